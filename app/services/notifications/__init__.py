"""What the app tells people: mail now, in-app notices and webhooks as they land."""
