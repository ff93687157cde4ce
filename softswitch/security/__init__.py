"""Security policy shared by the SIP and media layers."""
