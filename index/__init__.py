"""The reference catalog on disk: the SQLite catalog (the journal), the vector and hash
indexes kept consistent with it, and the index folder that holds them (``store.Index``)."""
