"""The local lab: a whole fabric in network namespaces on one machine."""
