"""driftloop: the command line and the embedded stack that runs every service locally."""
