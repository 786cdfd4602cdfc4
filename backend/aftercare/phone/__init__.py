"""The patient's pages: the phone's side of Aftercare, on top of the domains it shows."""
