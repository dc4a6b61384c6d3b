"""The matching benchmark: a synthetic city and the plain-GeoDjango baseline it is timed against."""
