"""Singer tap for the WattiVahti electricity data API."""
