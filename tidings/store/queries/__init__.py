"""Read and write queries used by the API surfaces, one module per resource."""
