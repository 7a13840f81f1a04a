"""Delivery data sources: each turns its input into DeliveryRecords (or a reason it cannot)."""
