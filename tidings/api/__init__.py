"""The HTTP surfaces: parse the request, call actions, serialise, render errors per surface."""
