"""Chinese FAQ and escalation bot for enterprise service groups."""
