"""Suite-wide fixtures. Area fixtures live in the conftest of each tests/<area>/ folder."""
