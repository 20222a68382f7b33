"""Storage: the database tables, connections, migrations and the queries trialbot runs on them."""
