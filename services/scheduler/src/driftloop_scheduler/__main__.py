"""``python -m driftloop_scheduler``: run the scheduler service until SIGINT/SIGTERM."""

from driftloop_runtime import serve

from .app import create_app
from .settings import Settings


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
