"""tradebridge-momentum: an example third-party tradebridge plugin (see README.md)."""
