"""Webhooks (issue 20, part 4): events from the database, signed, sent by the job queue.

Migration 0042's trigger writes a delivery per subscribed webhook in the very
transaction that changes a customer, lead, task or interaction, and queues the
sender; ``sender`` posts them (``targets`` keeps them off private addresses),
``signing`` signs them, and retries follow an exponential backoff.
"""
