"""What the clinic reads about its work: the monthly report, the figures, the metrics."""
