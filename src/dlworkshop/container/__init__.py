"""The MXNet container: Dockerfiles, and building, running and pushing the image."""
