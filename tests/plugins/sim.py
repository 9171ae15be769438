"""pytest fixtures that run poweredge_sim on 127.0.0.1 (filled in by the simulator work)."""
