"""OVN Northbound realization: translation, commands, the IDL owner, the embedded NB."""
