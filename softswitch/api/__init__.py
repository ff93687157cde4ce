"""Control and CTI views of the switch for the console and integrations."""
