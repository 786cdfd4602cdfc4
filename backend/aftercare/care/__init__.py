"""A patient's course of care: enrolment, a new schedule, the record the clinic reads.

The patient's row belongs to `patients`; what changes several domains at once lives here.
"""
