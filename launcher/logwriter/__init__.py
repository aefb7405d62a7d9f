"""Per-service log writers: the service writes into a pipe, a tiny process stamps, appends and rotates.

Modules here import only the standard library (``writer`` runs in its own small
interpreter, ``python -I -S``): ``format`` is the line format, ``files`` the file
names, rotation and retention, ``status`` the writer's status record, ``writer``
the process itself and ``launch`` how the launcher starts one.
"""
