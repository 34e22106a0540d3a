"""Local tools: the embedded emulator run, the Docker-free invoker, template translation."""
