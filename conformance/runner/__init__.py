"""pytest as the one runner: the option table, the run's configuration and state, the plugin's hooks, the
verdict and its summary, Allure, the command line, and the scorer of the self-test catalog.
"""
