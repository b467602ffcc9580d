"""Pure-Python, IO-free core of the CIF adaptor widget.

Runs unchanged in Pyodide (the widget) and in CPython (tests, load generator): no
`js`, `pyodide`, `pyscript`, Flask or server imports here, and no clocks or sockets —
time and bytes are passed in, actions come out.
"""

__version__ = "0.1.0"
