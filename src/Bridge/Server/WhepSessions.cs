using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using OspBridge.Osp.Messages;

namespace OspBridge.Bridge.Server;

/// <summary>Which of the two HTTP ingest/egress protocols a session speaks.</summary>
internal enum WhepKind
{
    /// <summary>WHEP (draft-ietf-wish-whep): the client views the device's camera (offer recvonly).</summary>
    Whep,

    /// <summary>WHIP (RFC 9725): the client publishes to the device (offer sendonly; talk-back).</summary>
    Whip,
}

/// <summary>Limits of <see cref="WhepSessions"/>.</summary>
internal sealed class WhepSessionOptions
{
    /// <summary>Most WHEP + WHIP sessions with one device at once (more POSTs get 503 + Retry-After).</summary>
    public int MaxPerDevice { get; init; } = 64;

    /// <summary>Most sessions overall.</summary>
    public int MaxTotal { get; init; } = 512;

    /// <summary>
    /// Longest life of a session the device never reported as ended (a device that does not send
    /// <c>lan-signaling-close</c> when its peer connection closes): then the bridge ends it.
    /// </summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromHours(12);

    /// <summary>How often sessions are checked against <see cref="MaxAge"/>.</summary>
    public TimeSpan ReapInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a session the device reported ended stays addressable (DELETE → 200) before it is dropped.</summary>
    public TimeSpan EndedGrace { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The clock of <see cref="MaxAge"/> (tests move it).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>One WHEP or WHIP session: an HTTP resource for one peer connection on the device.</summary>
internal sealed class WhepSession
{
    private int _trickled;

    public WhepSession(WhepKind kind, string deviceId, string id, string etag, DeviceLink link, ulong signalingId, string? clientUfrag, DateTimeOffset created)
    {
        Kind = kind;
        DeviceId = deviceId;
        Id = id;
        ETag = etag;
        Link = link;
        SignalingId = signalingId;
        ClientUfrag = clientUfrag;
        Created = created;
    }

    public WhepKind Kind { get; }

    public string DeviceId { get; }

    /// <summary>The unguessable session id in the Location URL (22 base64url characters, 128 bits from the CSPRNG).</summary>
    public string Id { get; }

    /// <summary>The entity tag (quoted); a new one after each ICE restart (RFC 9725 §4.3.2).</summary>
    public string ETag { get; set; }

    public DeviceLink Link { get; }

    /// <summary>The LAN signaling session id of the offer (candidates and close go to the device with it).</summary>
    public ulong SignalingId { get; }

    /// <summary>The client's ICE username fragment from its offer (a PATCH with another one asks for an ICE restart).</summary>
    public string? ClientUfrag { get; set; }

    /// <summary>ICE restarts done on this session.</summary>
    public int IceRestarts { get; set; }

    public DateTimeOffset Created { get; }

    /// <summary>Where it lives: <c>/whep/{device}/sessions/{id}</c> or <c>/whip/…</c>.</summary>
    public string Location => $"/{(Kind == WhepKind.Whep ? "whep" : "whip")}/{DeviceId}/sessions/{Id}";

    /// <summary>Counts trickled candidates; false once the session has had <paramref name="max"/>.</summary>
    public bool TryTrickle(int count, int max) => Interlocked.Add(ref _trickled, count) <= max;

    public CancellationTokenRegistration LinkEnded { get; set; }

    /// <summary>
    /// The lease on the browser token that created the session (<see cref="OpenStreams"/>; never revoked for the admin
    /// token): revoking the token ends the session like a DELETE. Given back when the session ends.
    /// </summary>
    public OpenStreams.Lease? TokenLease { get; set; }

    public CancellationTokenRegistration TokenRevoked { get; set; }

    /// <summary>
    /// When the device reported this session's peer connection closed or failed (null: it did not). The resource stays
    /// for <see cref="WhepSessionOptions.EndedGrace"/> so that a client that closes its peer connection before its
    /// DELETE (whip-whep does) still gets 200.
    /// </summary>
    public DateTimeOffset? DeviceEndedAt { get; set; }
}

/// <summary>
/// The live WHEP/WHIP sessions of the bridge: bounded per device and overall, ended when the device reports its
/// peer connection closed or failed (<c>lan-signaling-close</c>), when the device's LP2P session ends (the device
/// disappeared or was unpaired), on DELETE, and after <see cref="WhepSessionOptions.MaxAge"/>.
/// </summary>
internal sealed class WhepSessions : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, WhepSession> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _perDevice = new(StringComparer.Ordinal);
    private readonly Dictionary<(DeviceLink Link, ulong SignalingId), WhepSession> _bySignaling = [];
    private readonly Dictionary<DeviceLink, IDisposable> _closeSubscriptions = [];
    private readonly WhepSessionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ITimer _reaper;
    private int _reserved;

    public WhepSessions(WhepSessionOptions options, ILogger logger)
    {
        _options = options;
        var time = _time = options.Time;
        _logger = logger;
        _reaper = time.CreateTimer(_ => Reap(), null, options.ReapInterval, options.ReapInterval);
    }

    /// <summary>Sessions alive now.</summary>
    public int Count
    {
        get { lock (_gate) return _sessions.Count; }
    }

    /// <summary>Sessions alive now with device <paramref name="deviceId"/>.</summary>
    public int CountFor(string deviceId)
    {
        lock (_gate) return _perDevice.GetValueOrDefault(deviceId);
    }

    /// <summary>True when a session of <paramref name="kind"/> with <paramref name="deviceId"/> is alive (not reported ended by the device).</summary>
    public bool HasLive(WhepKind kind, string deviceId)
    {
        lock (_gate) return _sessions.Values.Any(s => s.Kind == kind && s.DeviceId == deviceId && s.DeviceEndedAt is null);
    }

    /// <summary>Holds a place for a session being set up (counted against the limits); false when full.</summary>
    public bool TryReserve(string deviceId)
    {
        lock (_gate)
        {
            if (_reserved >= _options.MaxTotal || _perDevice.GetValueOrDefault(deviceId) >= _options.MaxPerDevice) return false;
            _reserved++;
            _perDevice[deviceId] = _perDevice.GetValueOrDefault(deviceId) + 1;
            return true;
        }
    }

    /// <summary>Gives back a place taken by <see cref="TryReserve"/> that did not become a session.</summary>
    public void Release(string deviceId)
    {
        lock (_gate) Unreserve(deviceId);
    }

    /// <summary>A new session id (22 base64url characters, 128 bits) and entity tag, both from the CSPRNG.</summary>
    public static (string Id, string ETag) NewIds() =>
        (Base64Url(RandomNumberGenerator.GetBytes(16)), "\"" + Base64Url(RandomNumberGenerator.GetBytes(12)) + "\"");

    /// <summary>Adds a session whose place was reserved; it ends by itself with the device's session or peer connection.</summary>
    /// <remarks>
    /// <paramref name="tokenLease"/> (owned by the session from here on): the caller's credential; when its browser token
    /// is revoked the session ends and the device is told to close its peer connection (docs/bridge.md, revocation).
    /// </remarks>
    public WhepSession Add(WhepKind kind, string deviceId, DeviceLink link, ulong signalingId, string? clientUfrag, OpenStreams.Lease? tokenLease = null)
    {
        var (id, etag) = NewIds();
        var session = new WhepSession(kind, deviceId, id, etag, link, signalingId, clientUfrag, _time.GetUtcNow()) { TokenLease = tokenLease };
        bool subscribe;
        lock (_gate)
        {
            _sessions.Add(id, session);
            _bySignaling[(link, signalingId)] = session;
            subscribe = !_closeSubscriptions.ContainsKey(link);
            if (subscribe) _closeSubscriptions[link] = NoSubscription.Instance;
        }
        if (subscribe) SubscribeCloses(link);
        session.LinkEnded = link.Ended.Register(() =>
        {
            if (Remove(session) && _logger.IsEnabled(LogLevel.Information))
                _logger.LogInformation("{Kind} session {Id} ended: the session with {Device} ended", kind, id, deviceId);
        });
        if (tokenLease is not null)
        {
            // Off the revoking thread: EndAsync disposes the lease whose cancellation is running this callback.
            session.TokenRevoked = tokenLease.Revoked.Register(() => _ = Task.Run(async () =>
            {
                if (await EndAsync(session, LanSignalingCloseReason.Normal, "the browser token was revoked").ConfigureAwait(false)
                    && _logger.IsEnabled(LogLevel.Information))
                    _logger.LogInformation("{Kind} session {Id} with {Device} ended: its browser token was revoked", kind, id, deviceId);
            }));
        }
        return session;
    }

    /// <summary>The session <paramref name="id"/> of <paramref name="kind"/> with device <paramref name="deviceId"/>, or null.</summary>
    public WhepSession? Find(WhepKind kind, string deviceId, string id)
    {
        lock (_gate)
            return _sessions.TryGetValue(id, out var s) && s.Kind == kind && s.DeviceId == deviceId ? s : null;
    }

    /// <summary>Ends <paramref name="session"/> (no message to the device); false when it had already ended.</summary>
    public bool Remove(WhepSession session)
    {
        lock (_gate)
        {
            if (!_sessions.Remove(session.Id)) return false;
            _bySignaling.Remove((session.Link, session.SignalingId));
            Unreserve(session.DeviceId);
        }
        session.LinkEnded.Unregister();
        session.TokenRevoked.Unregister();
        session.TokenLease?.Dispose();
        return true;
    }

    /// <summary>Ends <paramref name="session"/> and tells the device to close its peer connection; false when it had already ended.</summary>
    public async Task<bool> EndAsync(WhepSession session, LanSignalingCloseReason reason, string message)
    {
        if (!Remove(session)) return false;
        if (!session.Link.IsAlive) return true;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await session.Link.Signaling.CloseAsync(session.SignalingId, reason, message, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Osp.OspException or OperationCanceledException or ObjectDisposedException)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("telling {Device} that session {Id} ended failed: {Error}", session.DeviceId, session.Id, ex.Message);
        }
        return true;
    }

    /// <summary>One <c>lan-signaling-close</c> subscription per device session (a connection takes one per message type), kept until it ends.</summary>
    private void SubscribeCloses(DeviceLink link)
    {
        IDisposable subscription;
        try
        {
            subscription = link.Connection.Connection.Subscribe<LanSignalingClose>(m =>
            {
                WhepSession? session;
                lock (_gate)
                {
                    session = _bySignaling.GetValueOrDefault((link, m.SessionId));
                    if (session is null || session.DeviceEndedAt is not null) return;
                    session.DeviceEndedAt = _time.GetUtcNow();
                }
                if (_logger.IsEnabled(LogLevel.Information))
                    _logger.LogInformation("{Kind} session {Id} with {Device} ended by the device ({Reason})", session.Kind, session.Id, session.DeviceId, m.Reason);
            });
        }
        catch (InvalidOperationException ex)
        {
            // Something else takes the device's close messages: sessions still end on DELETE, with the link, or by age.
            if (_logger.IsEnabled(LogLevel.Warning)) _logger.LogWarning("cannot follow {Device}'s session closes: {Error}", link.DeviceId, ex.Message);
            return;
        }
        lock (_gate) _closeSubscriptions[link] = subscription;
        link.Ended.Register(() =>
        {
            lock (_gate) _closeSubscriptions.Remove(link);
            subscription.Dispose();
        });
    }

    private sealed class NoSubscription : IDisposable
    {
        public static readonly NoSubscription Instance = new();

        public void Dispose()
        {
        }
    }

    private void Reap()
    {
        var now = _time.GetUtcNow();
        var cutoff = now - _options.MaxAge;
        List<WhepSession> old, ended;
        lock (_gate)
        {
            ended = _sessions.Values.Where(s => s.DeviceEndedAt < now - _options.EndedGrace).ToList();
            old = _sessions.Values.Where(s => s.Created < cutoff && s.DeviceEndedAt is null).ToList();
        }
        foreach (var s in ended) Remove(s);
        foreach (var s in old)
        {
            if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("{Kind} session {Id} with {Device} reaped after {Age}", s.Kind, s.Id, s.DeviceId, _options.MaxAge);
            _ = EndAsync(s, LanSignalingCloseReason.Timeout, "session too old");
        }
    }

    private void Unreserve(string deviceId)
    {
        _reserved--;
        int n = _perDevice.GetValueOrDefault(deviceId) - 1;
        if (n <= 0) _perDevice.Remove(deviceId);
        else _perDevice[deviceId] = n;
    }

    /// <summary>Ends every session (telling the devices).</summary>
    public async ValueTask DisposeAsync()
    {
        await _reaper.DisposeAsync().ConfigureAwait(false);
        List<WhepSession> all;
        lock (_gate) all = [.. _sessions.Values];
        await Task.WhenAll(all.Select(s => EndAsync(s, LanSignalingCloseReason.Normal, "bridge stopping"))).ConfigureAwait(false);
    }

    private static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}
