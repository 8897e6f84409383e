"""One module per stage; every asset and asset check here is collected by definitions.py."""
