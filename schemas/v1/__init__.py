"""Version 1 of the event data models. A breaking change gets a v2 module beside this one."""
