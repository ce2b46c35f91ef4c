using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text;
using OspBridge.Net.Core;
using OspBridge.WebRtc.Stun;

namespace OspBridge.Bridge.Relay;

/// <summary>
/// The bridge's TURN relay (RFC 8656 subset, UDP only), sans-IO: datagrams from clients arrive on the listening
/// address (any <see cref="DatagramPath.Local"/> that is not a relayed address), datagrams from peers on a relayed
/// address (<see cref="DatagramPath.Local"/> = that address). Supported: Binding; Allocate with long-term credentials
/// (<see cref="TurnCredentials"/>, 401 challenge with REALM and NONCE), Refresh, CreatePermission, ChannelBind, Send and
/// Data indications, ChannelData. Not supported (answered with 420 or 400): TCP relaying, EVEN-PORT,
/// RESERVATION-TOKEN, DONT-FRAGMENT, dual allocations. Every table is bounded by <see cref="TurnRelayOptions"/>.
/// </summary>
internal sealed class TurnServerCore : IProtocolCore<TurnEvent>
{
    private const string Software = "ospbridge relay";
    private static readonly byte[] RealmBytes = Encoding.UTF8.GetBytes(TurnCredentials.Realm);

    private readonly TurnRelayOptions _o;
    private readonly byte[] _nonceKey;
    private byte[] _nonce = [];
    private TimeSpan _nonceExpires;
    private TimeSpan? _nextDeadline;
    private bool _deadlineDirty;
    private readonly Dictionary<IPEndPoint, Allocation> _byClient = [];
    private readonly Dictionary<IPEndPoint, Allocation> _byRelay = [];
    private readonly Queue<Pending> _out = new();
    private readonly Queue<TurnEvent> _events = new();
    private readonly byte[] _txid = new byte[12];

    public TurnServerCore(TurnRelayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Secret.Length < 16) throw new ArgumentException("the relay secret must be at least 16 bytes", nameof(options));
        _o = options;
        _nonceKey = new byte[32];
        options.Random.GetBytes(_nonceKey);
    }

    /// <summary>Allocations now.</summary>
    public int AllocationCount => _byClient.Count;
    /// <summary>Allocations created since start.</summary>
    public long AllocationsCreated { get; private set; }
    /// <summary>Application bytes relayed from clients to peers.</summary>
    public long BytesToPeers { get; private set; }
    /// <summary>Application bytes relayed from peers to clients.</summary>
    public long BytesToClients { get; private set; }
    /// <summary>Datagrams dropped: no allocation/permission/channel, rate limit, size, full queue, malformed.</summary>
    public long Dropped { get; private set; }

    /// <inheritdoc/>
    /// <remarks>The earliest allocation expiry, recomputed only after an allocation was added, refreshed or removed (not per datagram).</remarks>
    public TimeSpan? NextDeadline
    {
        get
        {
            if (_deadlineDirty)
            {
                TimeSpan? d = null;
                foreach (var a in _byClient.Values) if (d is null || a.Expires < d) d = a.Expires;
                _nextDeadline = d;
                _deadlineDirty = false;
            }
            return _nextDeadline;
        }
    }

    /// <inheritdoc/>
    public void HandleDeadline(TimeSpan now)
    {
        List<Allocation>? dead = null;
        foreach (var a in _byClient.Values)
        {
            if (a.Expires <= now) (dead ??= []).Add(a);
            else a.Purge(now);
        }
        if (dead is not null) foreach (var a in dead) Remove(a);
    }

    /// <inheritdoc/>
    public bool TryPollEvent([MaybeNullWhen(false)] out TurnEvent ev) => _events.TryDequeue(out ev);

    /// <inheritdoc/>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        if (!_out.TryDequeue(out var p))
        {
            transmit = default;
            return false;
        }
        p.Buffer.AsSpan(0, p.Length).CopyTo(destination);
        transmit = new Transmit(p.Length, p.Path);
        if (p.Pooled) ArrayPool<byte>.Shared.Return(p.Buffer);
        return true;
    }

    /// <inheritdoc/>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        if (path.Remote is null) { Dropped++; return; }
        if (path.Local is not null && _byRelay.TryGetValue(path.Local, out var relay))
        {
            FromPeer(relay, datagram, path.Remote, now);
            return;
        }
        if (TurnChannelData.IsChannelData(datagram))
        {
            if (!TurnChannelData.TryRead(datagram, out ushort ch, out int off, out int len)
                || !_byClient.TryGetValue(path.Remote, out var a) || !a.Channels.TryGetValue(ch, out var bound) || bound.Expires <= now)
            {
                Dropped++;
                return;
            }
            ToPeer(a, bound.Peer, datagram.Slice(off, len), now);
            return;
        }
        if (!StunMessage.TryReadHeader(datagram, out ushort method, out var cls)) { Dropped++; return; }
        if (cls == StunClass.Indication)
        {
            if (method == TurnConstants.Send && TurnStunWire.TryReadSendIndication(datagram, out var peer, out int doff, out int dlen)
                && _byClient.TryGetValue(path.Remote, out var a))
                ToPeer(a, peer!, datagram.Slice(doff, dlen), now);
            else Dropped++;
            return;
        }
        if (cls != StunClass.Request || !StunMessage.TryParse(datagram, out var m)) { Dropped++; return; }
        HandleRequest(m!, path, now);
    }

    private void ToPeer(Allocation a, IPEndPoint peer, ReadOnlySpan<byte> data, TimeSpan now)
    {
        if (data.Length > _o.MaxPayload || !a.HasPermission(peer.Address, now) || !a.Take(data.Length, now, _o.BytesPerSecondPerAllocation))
        {
            Dropped++;
            return;
        }
        if (!TryRent(data.Length, out var buf)) return;
        data.CopyTo(buf);
        _out.Enqueue(new Pending(buf, data.Length, new DatagramPath(a.Relay, peer), true));
        a.BytesToPeer += data.Length;
        BytesToPeers += data.Length;
    }

    private void FromPeer(Allocation a, ReadOnlySpan<byte> data, IPEndPoint peer, TimeSpan now)
    {
        if (data.Length > _o.MaxPayload || !a.HasPermission(peer.Address, now) || !a.Take(data.Length, now, _o.BytesPerSecondPerAllocation))
        {
            Dropped++;
            return;
        }
        int len;
        byte[] buf;
        if (a.ChannelOf.TryGetValue(peer, out ushort ch) && a.Channels.TryGetValue(ch, out var b) && b.Expires > now)
        {
            if (!TryRent(TurnChannelData.HeaderLength + data.Length, out buf)) return;
            len = TurnChannelData.Write(buf, ch, data);
        }
        else
        {
            if (!TryRent(TurnStunWire.DataIndicationLength(peer, data.Length), out buf)) return;
            _o.Random.GetBytes(_txid);
            len = TurnStunWire.WriteDataIndication(buf, _txid, peer, data);
        }
        _out.Enqueue(new Pending(buf, len, new DatagramPath(a.ServerLocal, a.Client), true));
        a.BytesToClient += data.Length;
        BytesToClients += data.Length;
    }

    private bool TryRent(int length, out byte[] buf)
    {
        if (_out.Count >= _o.MaxQueuedTransmits)
        {
            Dropped++;
            buf = [];
            return false;
        }
        buf = ArrayPool<byte>.Shared.Rent(length);
        return true;
    }

    /// <summary>TURN's request attributes, on top of the STUN/ICE ones <see cref="StunMessage.UnknownRequiredAttributes(Func{ushort, bool})"/> knows.</summary>
    private static readonly Func<ushort, bool> KnownTurnAttribute = static t => t is TurnConstants.AttrChannelNumber or TurnConstants.AttrLifetime or TurnConstants.AttrXorPeerAddress
        or TurnConstants.AttrData or TurnConstants.AttrRequestedAddressFamily or TurnConstants.AttrRequestedTransport;

    private void HandleRequest(StunMessage m, DatagramPath path, TimeSpan now)
    {
        var client = path.Remote!;
        if (m.Method == TurnConstants.Binding)
        {
            var ok = new StunMessageBuilder(TurnConstants.Binding, StunClass.SuccessResponse, m.TransactionId);
            AddAddress(ok, StunAttributeType.XorMappedAddress, client, m.TransactionId);
            ok.AddSoftware(Software).AddFingerprint();
            Reply(ok, path);
            return;
        }
        if (m.Method is not (TurnConstants.Allocate or TurnConstants.Refresh or TurnConstants.CreatePermission or TurnConstants.ChannelBind))
        {
            Error(m, path, TurnConstants.ErrBadRequest, "unsupported method", null);
            return;
        }
        var unknown = m.UnknownRequiredAttributes(KnownTurnAttribute);
        if (unknown.Count > 0)
        {
            var e = new StunMessageBuilder(m.Method, StunClass.ErrorResponse, m.TransactionId).AddErrorCode(TurnConstants.ErrUnknownAttribute, "Unknown Attribute");
            e.AddUnknownAttributes(unknown).AddFingerprint();
            Reply(e, path);
            return;
        }
        if (!Authenticate(m, path, now, out var key, out var relayAddress)) return;
        _byClient.TryGetValue(client, out var a);
        if (m.Method == TurnConstants.Allocate) { HandleAllocate(m, path, now, key!, relayAddress!, a); return; }
        if (a is null) { Error(m, path, TurnConstants.ErrAllocationMismatch, "Allocation Mismatch", key); return; }
        if (a.Username != m.Username) { Error(m, path, TurnConstants.ErrWrongCredentials, "Wrong Credentials", key); return; }
        a.Purge(now);
        switch (m.Method)
        {
            case TurnConstants.Refresh:
                {
                    var lifetime = RequestedLifetime(m);
                    var ok = new StunMessageBuilder(m.Method, StunClass.SuccessResponse, m.TransactionId);
                    if (lifetime == TimeSpan.Zero)
                    {
                        Remove(a);
                        AddLifetime(ok, TimeSpan.Zero);
                    }
                    else
                    {
                        var l = Grant(lifetime);
                        a.Expires = now + l;
                        _deadlineDirty = true;
                        AddLifetime(ok, l);
                    }
                    Sign(ok, key!);
                    Reply(ok, path);
                    return;
                }
            case TurnConstants.CreatePermission:
                {
                    var peers = PeerAddresses(m);
                    if (peers.Count == 0) { Error(m, path, TurnConstants.ErrBadRequest, "XOR-PEER-ADDRESS missing", key); return; }
                    foreach (var p in peers)
                    {
                        if (p.AddressFamily != a.Relay.AddressFamily) { Error(m, path, 443, "Peer Address Family Mismatch", key); return; }
                        if (!_o.PeerAllowed(p.Address)) { Error(m, path, TurnConstants.ErrForbidden, "Forbidden", key); return; }
                    }
                    int fresh = peers.Select(p => p.Address).Distinct().Count(ad => !a.Permissions.ContainsKey(ad));
                    if (a.Permissions.Count + fresh > _o.MaxPermissionsPerAllocation) { Error(m, path, TurnConstants.ErrInsufficientCapacity, "Insufficient Capacity", key); return; }
                    foreach (var p in peers) a.Permissions[p.Address] = now + _o.PermissionLifetime;
                    var ok = new StunMessageBuilder(m.Method, StunClass.SuccessResponse, m.TransactionId);
                    Sign(ok, key!);
                    Reply(ok, path);
                    return;
                }
            default: // ChannelBind
                {
                    var peers = PeerAddresses(m);
                    if (peers.Count != 1 || !m.TryGetAttribute(TurnConstants.AttrChannelNumber, out var cn) || cn.Length != 4)
                    {
                        Error(m, path, TurnConstants.ErrBadRequest, "ChannelBind needs one CHANNEL-NUMBER and one XOR-PEER-ADDRESS", key);
                        return;
                    }
                    ushort ch = BinaryPrimitives.ReadUInt16BigEndian(cn);
                    var peer = peers[0];
                    if (ch is < TurnConstants.MinChannel or > TurnConstants.MaxChannel
                        || (a.Channels.TryGetValue(ch, out var existing) && !existing.Peer.Equals(peer))
                        || (a.ChannelOf.TryGetValue(peer, out ushort other) && other != ch))
                    {
                        Error(m, path, TurnConstants.ErrBadRequest, "channel number out of range or bound to another peer", key);
                        return;
                    }
                    if (peer.AddressFamily != a.Relay.AddressFamily) { Error(m, path, 443, "Peer Address Family Mismatch", key); return; }
                    if (!_o.PeerAllowed(peer.Address)) { Error(m, path, TurnConstants.ErrForbidden, "Forbidden", key); return; }
                    bool newChannel = !a.Channels.ContainsKey(ch);
                    bool newPermission = !a.Permissions.ContainsKey(peer.Address);
                    if ((newChannel && a.Channels.Count >= _o.MaxChannelsPerAllocation) || (newPermission && a.Permissions.Count >= _o.MaxPermissionsPerAllocation))
                    {
                        Error(m, path, TurnConstants.ErrInsufficientCapacity, "Insufficient Capacity", key);
                        return;
                    }
                    a.Channels[ch] = new Binding(peer, now + _o.ChannelLifetime);
                    a.ChannelOf[peer] = ch;
                    a.Permissions[peer.Address] = now + _o.PermissionLifetime;
                    var ok = new StunMessageBuilder(m.Method, StunClass.SuccessResponse, m.TransactionId);
                    Sign(ok, key!);
                    Reply(ok, path);
                    return;
                }
        }
    }

    private void HandleAllocate(StunMessage m, DatagramPath path, TimeSpan now, byte[] key, IPAddress relayAddress, Allocation? existing)
    {
        var client = path.Remote!;
        if (existing is not null)
        {
            // A retransmitted Allocate gets the same success again; any other is a mismatch (RFC 8656 §7.2 step 2).
            if (existing.AllocateTransaction.AsSpan().SequenceEqual(m.TransactionId) && existing.Username == m.Username)
                Reply(AllocateSuccess(m, existing, now, key), path);
            else Error(m, path, TurnConstants.ErrAllocationMismatch, "Allocation Mismatch", key);
            return;
        }
        if (!m.TryGetAttribute(TurnConstants.AttrRequestedTransport, out var rt) || rt.Length != 4)
        {
            Error(m, path, TurnConstants.ErrBadRequest, "REQUESTED-TRANSPORT missing", key);
            return;
        }
        if (rt[0] != TurnConstants.ProtocolUdp) { Error(m, path, TurnConstants.ErrUnsupportedTransport, "Unsupported Transport Protocol", key); return; }
        if (m.TryGetAttribute(TurnConstants.AttrRequestedAddressFamily, out var fam))
        {
            int want = fam.Length == 4 ? fam[0] : 0;
            int have = relayAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 1 : 2;
            if (want != have) { Error(m, path, TurnConstants.ErrAddressFamilyNotSupported, "Address Family not Supported", key); return; }
        }
        string user = m.Username!;
        if (_byClient.Count >= _o.MaxAllocations || _byClient.Values.Count(x => x.Username == user) >= _o.MaxAllocationsPerUsername)
        {
            Error(m, path, TurnConstants.ErrAllocationQuotaReached, "Allocation Quota Reached", key);
            return;
        }
        if (!_o.Ports.TryOpen(relayAddress, out var relay) || relay is null || _byRelay.ContainsKey(relay))
        {
            Error(m, path, TurnConstants.ErrInsufficientCapacity, "Insufficient Capacity", key);
            return;
        }
        var a = new Allocation(client, path.Local, relay, user, m.TransactionId.ToArray(), now, _o.BytesPerSecondPerAllocation)
        {
            Expires = now + Grant(RequestedLifetime(m)),
        };
        _byClient[client] = a;
        _byRelay[relay] = a;
        _deadlineDirty = true;
        AllocationsCreated++;
        _events.Enqueue(new TurnEvent(TurnEventKind.Allocated, client, relay, 0, 0));
        Reply(AllocateSuccess(m, a, now, key), path);
    }

    private static StunMessageBuilder AllocateSuccess(StunMessage m, Allocation a, TimeSpan now, byte[] key)
    {
        var ok = new StunMessageBuilder(TurnConstants.Allocate, StunClass.SuccessResponse, m.TransactionId);
        AddAddress(ok, TurnConstants.AttrXorRelayedAddress, a.Relay, m.TransactionId);
        AddLifetime(ok, a.Expires - now);
        AddAddress(ok, StunAttributeType.XorMappedAddress, a.Client, m.TransactionId);
        ok.AddSoftware(Software);
        Sign(ok, key);
        return ok;
    }

    /// <summary>Long-term credential check (RFC 8489 §9.2.4); sends the 400/401/438 itself and returns false when it fails.</summary>
    private bool Authenticate(StunMessage m, DatagramPath path, TimeSpan now, out byte[]? key, out IPAddress? relayAddress)
    {
        key = null;
        relayAddress = null;
        if (!m.HasMessageIntegrity)
        {
            Challenge(m, path, TurnConstants.ErrUnauthorized, "Unauthorized", now);
            return false;
        }
        if (m.Username is not { } user || !m.TryGetAttribute(StunAttributeType.Realm, out var realm) || !m.TryGetAttribute(StunAttributeType.Nonce, out var nonce))
        {
            Error(m, path, TurnConstants.ErrBadRequest, "USERNAME, REALM and NONCE are required", null);
            return false;
        }
        if (!NonceValid(nonce, now) || !realm.SequenceEqual(RealmBytes))
        {
            Challenge(m, path, TurnConstants.ErrStaleNonce, "Stale Nonce", now);
            return false;
        }
        if (!TurnCredentials.TryValidate(_o.Secret, user, now, out relayAddress, out _, out key) || !m.VerifyMessageIntegrity(key!))
        {
            Challenge(m, path, TurnConstants.ErrUnauthorized, "Unauthorized", now);
            key = null;
            return false;
        }
        return true;
    }

    private void Challenge(StunMessage m, DatagramPath path, int code, string reason, TimeSpan now)
    {
        var e = new StunMessageBuilder(m.Method, StunClass.ErrorResponse, m.TransactionId).AddErrorCode(code, reason);
        e.AddAttribute(StunAttributeType.Realm, RealmBytes).AddAttribute(StunAttributeType.Nonce, CurrentNonce(now)).AddSoftware(Software).AddFingerprint();
        Reply(e, path);
    }

    // Nonces (RFC 8489 §9.2): 8 hex digits of the expiry second on the core's clock, then 16 hex digits of
    // HMAC-SHA256(nonce key, those 8 digits). Stateless to check; one is handed out until half its lifetime is left,
    // so a client that keeps a nonce past its expiry gets 438 (Stale Nonce) with a fresh one.
    private const int NonceLength = 24;

    private byte[] CurrentNonce(TimeSpan now)
    {
        if (_nonce.Length == 0 || _nonceExpires - now < _o.NonceLifetime / 2)
        {
            _nonceExpires = now + _o.NonceLifetime;
            var n = new byte[NonceLength];
            Encoding.ASCII.GetBytes(((uint)Math.Ceiling(_nonceExpires.TotalSeconds)).ToString("X8", System.Globalization.CultureInfo.InvariantCulture), n);
            NonceMac(n.AsSpan(0, 8), n.AsSpan(8));
            _nonce = n;
        }
        return _nonce;
    }

    private bool NonceValid(ReadOnlySpan<byte> nonce, TimeSpan now)
    {
        if (nonce.Length != NonceLength || !uint.TryParse(nonce[..8], System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out uint expires)) return false;
        Span<byte> mac = stackalloc byte[16];
        NonceMac(nonce[..8], mac);
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(mac, nonce[8..]) && TimeSpan.FromSeconds(expires) > now;
    }

    private void NonceMac(ReadOnlySpan<byte> expiryDigits, Span<byte> hexOut)
    {
        Span<byte> h = stackalloc byte[32];
        System.Security.Cryptography.HMACSHA256.HashData(_nonceKey, expiryDigits, h);
        System.Text.Unicode.Utf8.FromUtf16(Convert.ToHexString(h[..8]), hexOut, out _, out _);
    }

    private void Error(StunMessage m, DatagramPath path, int code, string reason, byte[]? key)
    {
        var e = new StunMessageBuilder(m.Method, StunClass.ErrorResponse, m.TransactionId).AddErrorCode(code, reason).AddSoftware(Software);
        if (key is not null) Sign(e, key);
        else e.AddFingerprint();
        Reply(e, path);
    }

    private static void Sign(StunMessageBuilder b, byte[] key) => b.AddMessageIntegrity(key).AddFingerprint();

    private void Reply(StunMessageBuilder b, DatagramPath requestPath)
    {
        if (_out.Count >= _o.MaxQueuedTransmits) { Dropped++; return; }
        var bytes = b.ToArray();
        _out.Enqueue(new Pending(bytes, bytes.Length, new DatagramPath(requestPath.Local, requestPath.Remote, requestPath.InterfaceIndex), false));
    }

    private static void AddAddress(StunMessageBuilder b, ushort type, IPEndPoint ep, ReadOnlySpan<byte> txid)
    {
        Span<byte> v = stackalloc byte[20];
        int n = StunXorAddress.EncodedLength(ep);
        StunXorAddress.Write(v, ep, txid, xor: true);
        b.AddAttribute(type, v[..n]);
    }

    private static void AddLifetime(StunMessageBuilder b, TimeSpan lifetime)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(v, (uint)Math.Max(0, (long)lifetime.TotalSeconds));
        b.AddAttribute(TurnConstants.AttrLifetime, v);
    }

    private static TimeSpan? RequestedLifetime(StunMessage m) =>
        m.TryGetAttribute(TurnConstants.AttrLifetime, out var v) && v.Length == 4 ? TimeSpan.FromSeconds(BinaryPrimitives.ReadUInt32BigEndian(v)) : null;

    private TimeSpan Grant(TimeSpan? requested) =>
        requested is { } r ? (r < _o.DefaultLifetime ? _o.DefaultLifetime : r > _o.MaxLifetime ? _o.MaxLifetime : r) : _o.DefaultLifetime;

    private static List<IPEndPoint> PeerAddresses(StunMessage m)
    {
        var list = new List<IPEndPoint>();
        var raw = m.Raw;
        int pos = StunConstants.HeaderLength;
        while (pos < raw.Length && StunMessage.TryNextAttribute(raw, ref pos, out ushort t, out int off, out int len))
        {
            if (t == StunAttributeType.MessageIntegrity) break;
            if (t == TurnConstants.AttrXorPeerAddress && StunXorAddress.TryRead(raw.Slice(off, len), m.TransactionId, true, out var ep)) list.Add(ep!);
        }
        return list;
    }

    /// <summary>
    /// Deletes the allocation of <paramref name="client"/> (its TCP/TLS connection closed: RFC 8656 §3.1 ties the
    /// allocation to that connection); false when it has none.
    /// </summary>
    public bool RemoveClient(IPEndPoint client)
    {
        if (!_byClient.TryGetValue(client, out var a)) return false;
        Remove(a);
        return true;
    }

    private void Remove(Allocation a)
    {
        _byClient.Remove(a.Client);
        _byRelay.Remove(a.Relay);
        _deadlineDirty = true;
        _o.Ports.Close(a.Relay);
        _events.Enqueue(new TurnEvent(TurnEventKind.Ended, a.Client, a.Relay, a.BytesToPeer, a.BytesToClient));
    }

    private readonly record struct Pending(byte[] Buffer, int Length, DatagramPath Path, bool Pooled);

    private readonly record struct Binding(IPEndPoint Peer, TimeSpan Expires);

    private sealed class Allocation(IPEndPoint client, IPEndPoint? serverLocal, IPEndPoint relay, string username, byte[] allocateTransaction, TimeSpan now, int rate)
    {
        private double _tokens = rate;
        private TimeSpan _refilled = now;

        public IPEndPoint Client { get; } = client;
        public IPEndPoint? ServerLocal { get; } = serverLocal;
        public IPEndPoint Relay { get; } = relay;
        public string Username { get; } = username;
        public byte[] AllocateTransaction { get; } = allocateTransaction;
        public TimeSpan Expires { get; set; }
        public Dictionary<IPAddress, TimeSpan> Permissions { get; } = [];
        public Dictionary<ushort, Binding> Channels { get; } = [];
        public Dictionary<IPEndPoint, ushort> ChannelOf { get; } = [];
        public long BytesToPeer { get; set; }
        public long BytesToClient { get; set; }

        public bool HasPermission(IPAddress peer, TimeSpan now) => Permissions.TryGetValue(peer, out var e) && e > now;

        public bool Take(int bytes, TimeSpan now, int rate)
        {
            if (now > _refilled)
            {
                _tokens = Math.Min(rate, _tokens + (now - _refilled).TotalSeconds * rate);
                _refilled = now;
            }
            if (_tokens < bytes) return false;
            _tokens -= bytes;
            return true;
        }

        public void Purge(TimeSpan now)
        {
            foreach (var (ad, e) in Permissions) if (e <= now) Permissions.Remove(ad);
            foreach (var (ch, b) in Channels)
                if (b.Expires <= now)
                {
                    Channels.Remove(ch);
                    ChannelOf.Remove(b.Peer);
                }
        }
    }
}
