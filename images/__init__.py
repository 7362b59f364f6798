"""Container images of the scenario runner: Dockerfiles, pins (versions.env), build and lint tools."""
