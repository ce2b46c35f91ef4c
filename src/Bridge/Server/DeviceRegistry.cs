using OspBridge.Osp.Trust;
using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Discovery;

namespace OspBridge.Bridge.Server;

/// <summary>One device as <c>GET /api/devices</c> shows it.</summary>
/// <param name="Id">Short stable id derived from the fingerprint (the id in every URL).</param>
/// <param name="Name">Display name (as advertised, or as last seen).</param>
/// <param name="Fp">Agent fingerprint (base64 SHA-256 of its SPKI).</param>
/// <param name="Paired">The bridge trusts it (PIN pairing done).</param>
/// <param name="Online">It is advertising now, or the bridge holds a session with it.</param>
/// <param name="Capabilities">What its agent-info declared (known once the bridge connected).</param>
internal sealed record DeviceView(string Id, string Name, string Fp, bool Paired, bool Online, IReadOnlyList<string> Capabilities);

/// <summary>An API failure with its HTTP status (the endpoint turns it into a JSON error body).</summary>
internal sealed class BridgeHttpException(int status, string message) : Exception(message)
{
    /// <summary>The HTTP status code.</summary>
    public int Status { get; } = status;
}

/// <summary>
/// The bridge as an OSP agent on the listening side: browses for advertising agents (mDNS), keeps one
/// authenticated LP2P session per paired device (<see cref="DeviceLink"/>, opened on first use and kept), pairs
/// with PINs typed into the web UI (<see cref="WebPairingHost"/>), and reports every change (<see cref="Changed"/>).
/// A device that stops advertising has its session closed, which ends everything running on it.
/// </summary>
internal sealed class DeviceRegistry : IAsyncDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PinWait = TimeSpan.FromSeconds(60);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Device> _devices = new(StringComparer.Ordinal);
    private readonly AgentIdentity _identity;
    private readonly OspTrustStore _trust;
    private readonly IReadOnlyList<string>? _interfaces;
    private readonly ILogger _logger;
    private readonly ILogger _ospLogger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _trustGate = new();
    private readonly SemaphoreSlim _preconnectSlots = new(PreconnectConcurrency, PreconnectConcurrency);
    private readonly WithheldDevices _withheld;
    private TrustSnapshot? _trustSnapshot;
    private MdnsService? _mdns;
    private OspAgentBrowser? _browser;

    public DeviceRegistry(AgentIdentity identity, OspTrustStore trust, IReadOnlyList<string>? interfaces, ILoggerFactory loggers)
    {
        _identity = identity;
        _trust = trust;
        _interfaces = interfaces;
        _logger = loggers.CreateLogger("bridge.devices");
        _ospLogger = loggers.CreateLogger("osp");
        _withheld = new WithheldDevices(trust.StateDirectory);
    }

    /// <summary>Raised (outside any lock, possibly on a network thread) with the new view of a device that changed.</summary>
    public event Action<DeviceView>? Changed;

    /// <summary>The bridge's own fingerprint.</summary>
    public string Fingerprint => _identity.Fingerprint;

    /// <summary>
    /// Agents the mDNS cache is sized for beyond the trusted devices (devices not paired yet, other OSP agents on the
    /// LAN): the cache holds <see cref="MdnsQuerierOptions.RecordsPerAgent"/> records for each trusted device plus this
    /// many others, so every trusted device is kept however many there are (docs/security.md, "mDNS cache").
    /// </summary>
    internal const int UntrustedAgentHeadroom = 512;

    /// <summary>Pre-connects (<see cref="Preconnect"/>) running at once; the others queue (1000 devices appearing together).</summary>
    internal const int PreconnectConcurrency = 8;

    /// <summary>
    /// Open the session (and one <c>http-proxy</c> channel) to a trusted device as soon as it is seen advertising, so the
    /// first request through the gateway, WHEP or signaling does not pay for the connect and the first-use code paths of
    /// both processes (2.9–3.7 s under load in session 6). On by default; an on-demand connect overtakes a queued one.
    /// </summary>
    public bool Preconnect { get; init; } = true;

    /// <summary>Starts browsing.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        int expected = Trusted().Peers.Count + UntrustedAgentHeadroom;
        _mdns = MdnsService.Start(new MdnsServiceOptions
        {
            Interfaces = _interfaces,
            Logger = _logger,
            Querier = new MdnsQuerierOptions().ForAgents(expected),
        });
        _browser = new OspAgentBrowser(_mdns, _logger);
        _browser.AgentAdded += OnAgent;
        _browser.AgentUpdated += OnAgent;
        _browser.AgentRemoved += OnAgentRemoved;
        await _browser.StartAsync(cancellationToken).ConfigureAwait(false);
        foreach (var a in _browser.Agents) OnAgent(a);
    }

    /// <summary>The bridge's trust store (its per-device app grants are listed and revoked by <see cref="GrantEndpoints"/>).</summary>
    internal OspTrustStore Trust => _trust;

    /// <summary>Every device seen advertising or in the trust store.</summary>
    public IReadOnlyList<DeviceView> List()
    {
        var snapshot = Trusted();
        var trusted = snapshot.Peers;
        lock (_gate)
        {
            var views = _devices.Values.Select(d => View(d, snapshot.ByFingerprint.ContainsKey(d.Fingerprint))).ToList();
            foreach (var t in trusted)
            {
                if (t.Fingerprint == _identity.Fingerprint || _devices.ContainsKey(t.Id)) continue;
                views.Add(new DeviceView(t.Id, t.Name, t.Fingerprint, true, false, []));
            }
            return views.OrderBy(v => v.Name, StringComparer.OrdinalIgnoreCase).ThenBy(v => v.Id, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>The device <paramref name="id"/> (seen or trusted), or null.</summary>
    public DeviceView? Find(string id) => List().FirstOrDefault(v => v.Id == id);

    /// <summary>
    /// The session with paired device <paramref name="id"/>, connecting when there is none.
    /// </summary>
    /// <exception cref="BridgeHttpException">404 unknown, 403 not paired, 409 offline, 502 unreachable or it no longer trusts the bridge.</exception>
    public async Task<DeviceLink> ConnectAsync(string id, CancellationToken cancellationToken)
    {
        Task<DeviceLink> connecting;
        lock (_gate)
        {
            if (!_devices.TryGetValue(id, out var device))
            {
                if (Trusted().Peers.Any(t => t.Id == id)) throw new BridgeHttpException(409, $"device {id} is offline");
                throw new BridgeHttpException(404, $"no device {id}");
            }
            if (!Trusted().ByFingerprint.ContainsKey(device.Fingerprint)) throw new BridgeHttpException(403, $"device {id} is not paired with the bridge");
            if (_withheld.Contains(device.Fingerprint)) throw WithheldError(id);
            if (device.Link is { IsAlive: true } link) return link;
            if (device.Agent is null) throw new BridgeHttpException(409, $"device {id} is offline");
            if (device.Connecting is null || device.Connecting.IsCompleted || device.PreconnectQueued)
            {
                device.PreconnectQueued = false;
                device.Connecting = ConnectTrustedAsync(device, device.Agent);
            }
            connecting = device.Connecting;
        }
        return await connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts pairing with device <paramref name="id"/>: true when the device now shows a PIN (202), false when it
    /// was or became trusted without one (200).
    /// </summary>
    /// <exception cref="BridgeHttpException">404 unknown, 409 offline, 502 the device refused or is unreachable.</exception>
    public async Task<bool> StartPairingAsync(string id, CancellationToken cancellationToken)
    {
        Device device;
        Pairing pairing;
        lock (_gate)
        {
            device = _devices.GetValueOrDefault(id) ?? throw new BridgeHttpException(404, $"no device {id} is advertising");
            if (_trust.FindTrusted(device.Fingerprint) is not null && device.Agent is not null)
            {
                Allow(device.Fingerprint); // the user lets the bridge use it again (after its own grant was revoked)
                return false;
            }
            var agent = device.Agent ?? throw new BridgeHttpException(409, $"device {id} is offline");
            if (device.Pairing is { Task.IsCompleted: false } running)
            {
                pairing = running;
            }
            else
            {
                var host = new WebPairingHost();
                pairing = device.Pairing = new Pairing(host, PairAsync(device, agent, host));
            }
        }
        var first = await Task.WhenAny(pairing.Host.PinRequested, pairing.Task).WaitAsync(ConnectTimeout * 2, cancellationToken).ConfigureAwait(false);
        if (first == pairing.Host.PinRequested) return true;
        var outcome = await pairing.Task.ConfigureAwait(false);
        if (outcome.Outcome == PairingOutcome.Authenticated) return false;
        throw new BridgeHttpException(502, $"device {id} did not start pairing: {outcome.Message ?? outcome.Outcome.ToString()}");
    }

    /// <summary>Completes pairing with the PIN the device shows: true when trusted now (200), false for a wrong PIN (403).</summary>
    /// <exception cref="BridgeHttpException">404 unknown, 409 no pairing waiting for a PIN, 400 not a PIN.</exception>
    public async Task<bool> SubmitPinAsync(string id, string pin, CancellationToken cancellationToken)
    {
        Pairing pairing;
        lock (_gate)
        {
            var device = _devices.GetValueOrDefault(id) ?? throw new BridgeHttpException(404, $"no device {id} is advertising");
            pairing = device.Pairing is { Task.IsCompleted: false } p ? p : throw new BridgeHttpException(409, "no pairing is waiting for a PIN: POST {} first");
        }
        if (!pairing.Host.SubmitPin(pin, out var askedAgain)) throw new BridgeHttpException(409, "no pairing is waiting for a PIN: POST {} first");
        var first = await Task.WhenAny(askedAgain, pairing.Task).WaitAsync(PinWait, cancellationToken).ConfigureAwait(false);
        if (first == askedAgain && !pairing.Task.IsCompleted) throw new BridgeHttpException(400, "that is not a PIN (digits as the device shows them)");
        var outcome = await pairing.Task.ConfigureAwait(false);
        return outcome.Outcome == PairingOutcome.Authenticated;
    }

    /// <summary>Forgets device <paramref name="id"/> (revokes trust) and ends its session; false when unknown.</summary>
    public async Task<bool> UnpairAsync(string id)
    {
        var trusted = _trust.List().FirstOrDefault(t => t.Id == id);
        DeviceLink? link = null;
        bool known;
        lock (_gate)
        {
            known = _devices.TryGetValue(id, out var device);
            if (known)
            {
                link = device!.Link;
                device.Link = null;
            }
        }
        if (!known && trusted is null) return false;
        if (trusted is not null)
        {
            _trust.Revoke(trusted.Fingerprint);
            _withheld.Remove(trusted.Fingerprint); // forgotten: a new pairing starts from scratch
        }
        if (link is not null) await link.DisposeAsync().ConfigureAwait(false);
        Raise(id);
        return true;
    }

    /// <summary>
    /// The user revoked the bridge's own grant (<see cref="PeerTrust.App"/>) on paired device <paramref name="id"/>: the
    /// bridge stops using it — its session closes (ending the WebSocket/PeerJS/WHEP sessions on it) and none is opened
    /// until <see cref="StartPairingAsync"/> allows it again (<see cref="WithheldDevices"/>); the pairing stays. False when
    /// <paramref name="id"/> is no paired device.
    /// </summary>
    public async Task<bool> WithholdAsync(string id)
    {
        var trusted = Trusted().Peers.FirstOrDefault(t => t.Id == id);
        if (trusted is null) return false;
        _withheld.Add(trusted.Fingerprint);
        _trust.RevokeGrant(trusted.Fingerprint, PeerTrust.App);
        DeviceLink? link = null;
        lock (_gate)
        {
            if (_devices.TryGetValue(id, out var device))
            {
                link = device.Link;
                device.Link = null;
            }
        }
        if (link is not null) await link.DisposeAsync().ConfigureAwait(false);
        if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("the bridge's grant on {Id} was revoked: its session is closed, none is opened until it is allowed again", id);
        Raise(id);
        return true;
    }

    /// <summary>True when the user withheld paired device <paramref name="fingerprint"/> from the bridge (<see cref="WithholdAsync"/>).</summary>
    public bool IsWithheld(string fingerprint) => _withheld.Contains(fingerprint);

    private void Allow(string fingerprint)
    {
        if (!_withheld.Remove(fingerprint)) return;
        try { _trust.Grant(fingerprint, PeerTrust.App); }
        catch (Osp.OspException) { } // revoked meanwhile: nothing to grant
    }

    private static BridgeHttpException WithheldError(string id) =>
        new(403, $"the bridge's own grant on device {id} was revoked, so the bridge does not use it: POST /api/devices/{id}/pair with {{}} to allow it again");

    /// <summary>Closes every session and stops browsing.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        List<DeviceLink> links;
        lock (_gate)
        {
            links = _devices.Values.Select(d => d.Link).OfType<DeviceLink>().ToList();
            foreach (var d in _devices.Values)
            {
                d.Link = null;
                d.Pairing?.Host.Cancel();
            }
        }
        foreach (var l in links) await l.DisposeAsync().ConfigureAwait(false);
        _browser?.Dispose();
        if (_mdns is not null) await _mdns.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<DeviceLink> ConnectTrustedAsync(Device device, OspAgentInfo agent)
    {
        var (connection, result) = await ConnectAsync(agent, host: null).ConfigureAwait(false);
        if (connection is null || result.Outcome != PairingOutcome.Authenticated)
            throw new BridgeHttpException(502, $"device {device.Id} refused the bridge ({result.Outcome}{(result.Message is null ? "" : ": " + result.Message)})");
        if (_withheld.Contains(device.Fingerprint))
        {
            // withheld while this connect ran (its grant step re-recorded the grant): undo both
            _trust.RevokeGrant(device.Fingerprint, PeerTrust.App);
            await connection.DisposeAsync().ConfigureAwait(false);
            throw WithheldError(device.Id);
        }
        return Adopt(device, connection);
    }

    private async Task<PairingResult> PairAsync(Device device, OspAgentInfo agent, WebPairingHost host)
    {
        try
        {
            var (connection, result) = await ConnectAsync(agent, host).ConfigureAwait(false);
            if (connection is not null && result.Outcome == PairingOutcome.Authenticated)
            {
                Adopt(device, connection);
                if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("paired with {Name} ({Id})", device.Name, device.Id);
            }
            else if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            return result;
        }
        catch (BridgeHttpException ex)
        {
            return new PairingResult(PairingOutcome.Failed, null, false, ex.Message);
        }
        finally
        {
            Raise(device.Id);
        }
    }

    private async Task<(Osp.Lp2p.LP2PConnection? Connection, PairingResult Result)> ConnectAsync(OspAgentInfo agent, WebPairingHost? host)
    {
        try
        {
            return await PeerClient.ConnectAsync(agent, _identity, _trust, host, ConnectTimeout, _ospLogger, _stopping.Token).ConfigureAwait(false);
        }
        catch (CliException ex)
        {
            throw new BridgeHttpException(502, ex.Message);
        }
        catch (Osp.OspException ex)
        {
            throw new BridgeHttpException(502, $"{agent.DisplayName}: {ex.Message}");
        }
    }

    private DeviceLink Adopt(Device device, Osp.Lp2p.LP2PConnection connection)
    {
        var link = new DeviceLink(device.Id, connection, _logger);
        DeviceLink? old;
        lock (_gate)
        {
            old = device.Link;
            device.Link = link;
        }
        if (old is not null) _ = old.DisposeAsync().AsTask();
        _ = connection.Closed.ContinueWith(_ =>
        {
            lock (_gate)
            {
                if (device.Link == link) device.Link = null;
            }
            Raise(device.Id);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Raise(device.Id);
        return link;
    }

    private void OnAgent(OspAgentInfo agent)
    {
        string fp = agent.Txt.Fingerprint;
        if (fp == _identity.Fingerprint || agent.Addresses.Count == 0) return;
        string id = PeerTrust.IdOf(fp);
        lock (_gate)
        {
            if (!_devices.TryGetValue(id, out var device)) _devices[id] = device = new Device(id, fp);
            device.Agent = agent;
            device.Name = agent.DisplayName;
            if (Preconnect && !_stopping.IsCancellationRequested && device.Link is not { IsAlive: true }
                && device.Connecting is not { IsCompleted: false } && device.Pairing is not { Task.IsCompleted: false }
                && Trusted().ByFingerprint.ContainsKey(fp) && !_withheld.Contains(fp))
            {
                device.PreconnectQueued = true;
                var task = PreconnectAsync(device, agent);
                device.Connecting = task;
                _ = task.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        Raise(id);
    }

    /// <summary>
    /// Connects to a trusted device that just appeared (<see cref="Preconnect"/>), at most
    /// <see cref="PreconnectConcurrency"/> at once, and opens its first <c>http-proxy</c> channel. A failure is logged
    /// and left for the next on-demand connect; an on-demand connect that came first makes this one a no-op.
    /// </summary>
    private async Task<DeviceLink> PreconnectAsync(Device device, OspAgentInfo agent)
    {
        await _preconnectSlots.WaitAsync(_stopping.Token).ConfigureAwait(false);
        DeviceLink link;
        try
        {
            lock (_gate)
            {
                // An on-demand connect overtook this one (and replaced device.Connecting), or the device went away.
                if (!device.PreconnectQueued) return device.Link ?? throw new BridgeHttpException(409, $"device {device.Id}: pre-connect overtaken");
                device.PreconnectQueued = false;
                agent = device.Agent ?? throw new BridgeHttpException(409, $"device {device.Id} is offline");
            }
            try
            {
                link = await ConnectTrustedAsync(device, agent).ConfigureAwait(false);
            }
            catch (BridgeHttpException ex)
            {
                if (_logger.IsEnabled(LogLevel.Warning)) _logger.LogWarning("pre-connect to {Id} failed: {Error}", device.Id, ex.Message);
                throw;
            }
        }
        finally
        {
            _preconnectSlots.Release();
        }
        // The first http-proxy channel, outside the slot (a device that does not serve one must not hold the queue).
        _ = WarmHttpAsync(link);
        return link;
    }

    private async Task WarmHttpAsync(DeviceLink link)
    {
        try
        {
            using var open = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, link.Ended);
            open.CancelAfter(ConnectTimeout);
            await link.GetHttpAsync(open.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Osp.OspException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("pre-connect to {Id}: no http-proxy channel ({Error})", link.DeviceId, ex.Message);
        }
    }

    private void OnAgentRemoved(OspAgentInfo agent)
    {
        string id = PeerTrust.IdOf(agent.Txt.Fingerprint);
        DeviceLink? link = null;
        lock (_gate)
        {
            if (!_devices.TryGetValue(id, out var device) || device.Agent?.InstanceName != agent.InstanceName) return;
            device.Agent = null;
            link = device.Link;
            device.Link = null;
            device.Pairing?.Host.Cancel();
        }
        if (_logger.IsEnabled(LogLevel.Information)) _logger.LogInformation("device {Id} stopped advertising; its session ends", id);
        if (link is not null) _ = link.DisposeAsync().AsTask();
        Raise(id);
    }

    private void Raise(string id)
    {
        var handler = Changed;
        if (handler is null) return;
        var view = Find(id);
        if (view is null) return;
        try { handler(view); }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException) { }
    }

    /// <summary>
    /// The trusted peers with an index by fingerprint. The trust store keeps the one cache of the file (re-read only when
    /// its write time or length changed — every write replaces it — so another process's <c>ospbridge peers</c> is still
    /// seen on the next call); what is kept here is only the index derived from the store's current records, rebuilt
    /// when the store hands out other records. Before, re-parsing the file on every API call and gateway request cost
    /// ~8 ms of CPU per request with 1000 trusted devices (docs/benchmarks.md, the bridge under load).
    /// </summary>
    private TrustSnapshot Trusted()
    {
        _trust.Reload();
        var source = _trust.Peers;
        lock (_trustGate)
        {
            if (_trustSnapshot is { } cached && ReferenceEquals(cached.Source, source)) return cached;
        }
        var peers = source.Where(p => p.Trusted).Select(TrustedPeerView.From).ToList();
        var snapshot = new TrustSnapshot(source, peers, peers.GroupBy(p => p.Fingerprint, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal));
        lock (_trustGate) _trustSnapshot = snapshot;
        return snapshot;
    }

    private sealed record TrustSnapshot(IReadOnlyList<OspTrustedPeer> Source, IReadOnlyList<TrustedPeerView> Peers, Dictionary<string, TrustedPeerView> ByFingerprint);

    private static DeviceView View(Device d, bool paired) => new(d.Id, d.Name, d.Fingerprint, paired,
        d.Agent is not null || d.Link is { IsAlive: true }, d.Link?.Capabilities ?? d.LastCapabilities);

    private sealed class Device(string id, string fingerprint)
    {
        private DeviceLink? _link;

        public string Id { get; } = id;
        public string Fingerprint { get; } = fingerprint;
        public string Name { get; set; } = id;
        public OspAgentInfo? Agent { get; set; }
        public Task<DeviceLink>? Connecting { get; set; }
        public bool PreconnectQueued { get; set; }
        public Pairing? Pairing { get; set; }
        public IReadOnlyList<string> LastCapabilities { get; private set; } = [];

        public DeviceLink? Link
        {
            get => _link;
            set
            {
                if (_link is not null) LastCapabilities = _link.Capabilities;
                _link = value;
            }
        }
    }

    private sealed record Pairing(WebPairingHost Host, Task<PairingResult> Task);
}
