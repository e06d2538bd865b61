"""The checks: each a registered function that judges an exchange against the schemas and records a pass or a
finding per requirement, declared with the annotations it judges and the severity of breaking them.
"""
