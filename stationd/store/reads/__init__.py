"""The kiosk's read side: one named function for each thing a page shows.

Each takes the `Store` and reads what it returns in one read transaction, so a page never
shows two moments at once; the pages call these and never open a connection themselves.
Writes go through the services.
"""
