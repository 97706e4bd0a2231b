"""Physical connections ("lines"): their records, the store that pages them, the seeded fleet
generator and the provisioning lifecycle."""
