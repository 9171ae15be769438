"""Dell PowerEdge fan control over IPMI-LAN."""
