"""Shared helpers of the example lake.

A shared module is packaged with every module that lists it in the
``shared_modules`` of its requirements.json (and only with those), under
``shared/<name>/`` at the root of the Lambda package:

    from shared.example import naming
"""
