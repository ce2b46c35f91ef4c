namespace OspBridge.Bridge.Server;

/// <summary>
/// The long-lived responses open under each browser token — the device-events SSE stream, <c>/ws/{id}</c> and
/// <c>/peerjs</c> WebSockets — so that revoking the token (<c>DELETE /api/tokens/{id}</c>, <c>POST /api/logout</c>,
/// or the oldest login evicted) ends them at once instead of leaving them open until the client goes away
/// (docs/bridge.md, "Grants and browser tokens"). A stream takes a <see cref="Lease"/> for its lifetime and watches
/// <see cref="Lease.Revoked"/>: a WebSocket then closes with 1008 (policy violation), an SSE stream ends. The admin
/// token cannot be revoked, so its streams are not tracked.
/// </summary>
internal sealed class OpenStreams
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, HashSet<Lease>> _byToken = new(StringComparer.Ordinal);

    /// <summary>Streams tracked now (all tokens).</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _byToken.Values.Sum(s => s.Count);
        }
    }

    /// <summary>
    /// A lease for a stream opened with browser token <paramref name="tokenId"/> (null: the admin token — a lease that is
    /// never revoked). <paramref name="stillValid"/> is asked after the lease is registered, so a revocation that
    /// raced the stream's start still ends it.
    /// </summary>
    public Lease Open(string? tokenId, Func<bool> stillValid)
    {
        var lease = new Lease(this, tokenId);
        if (tokenId is null) return lease;
        lock (_gate)
        {
            if (!_byToken.TryGetValue(tokenId, out var set)) _byToken[tokenId] = set = [];
            set.Add(lease);
        }
        if (!stillValid()) lease.Revoke();
        return lease;
    }

    /// <summary>Ends every stream opened with browser token <paramref name="tokenId"/>; returns how many.</summary>
    public int Revoke(string tokenId)
    {
        Lease[] leases;
        lock (_gate)
        {
            if (!_byToken.Remove(tokenId, out var set)) return 0;
            leases = [.. set];
        }
        foreach (var l in leases) l.Revoke();
        return leases.Length;
    }

    private void Remove(Lease lease)
    {
        if (lease.TokenId is null) return;
        lock (_gate)
        {
            if (_byToken.TryGetValue(lease.TokenId, out var set) && set.Remove(lease) && set.Count == 0) _byToken.Remove(lease.TokenId);
        }
    }

    /// <summary>One open stream's registration; dispose it when the stream ends.</summary>
    internal sealed class Lease : IDisposable
    {
        private readonly OpenStreams _owner;
        private readonly CancellationTokenSource _revoked = new();
        private int _disposed;

        internal Lease(OpenStreams owner, string? tokenId)
        {
            _owner = owner;
            TokenId = tokenId;
        }

        /// <summary>The browser token's id (null: the admin token).</summary>
        public string? TokenId { get; }

        /// <summary>Cancelled when the token is revoked.</summary>
        public CancellationToken Revoked => _revoked.Token;

        /// <summary>True once the token was revoked.</summary>
        public bool IsRevoked => _revoked.IsCancellationRequested;

        internal void Revoke()
        {
            try { _revoked.Cancel(); }
            catch (ObjectDisposedException) { }
        }

        /// <inheritdoc/>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _owner.Remove(this);
            _revoked.Dispose();
        }
    }
}
