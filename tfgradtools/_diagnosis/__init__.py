"""Why a gradient is `None` or not finite: the op, the user's line, the fix.

`_graph` reads the causes off the ops of a graph (the one being built, or
one traced from an eager call for the explanation only); `_arguments`
names each source by where `f` receives it, and calls `f` with one
replaced; `_report` holds the report and its words; `_explain` is
`explain_gradients`, and `_disconnected` the error
`unconnected_gradients='raise'` raises.
"""
