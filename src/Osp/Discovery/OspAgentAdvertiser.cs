using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

namespace OspBridge.Osp.Discovery;

/// <summary>
/// Advertises this agent as <c>_openscreen._udp</c> through an <see cref="MdnsService"/>: the agent hostname
/// (<see cref="AgentIdentity.Hostname"/>, A/AAAA of each interface) and the service (SRV → hostname:port,
/// TXT fp/mv/at/sn). After an mDNS name conflict the instance is renamed ("Front Door (2)"), the identity
/// follows (<see cref="AgentIdentity.Rename"/>: new certificate, serial counter + 1, new hostname), and
/// TXT <c>sn</c> and the SRV target are re-announced. Disposing sends goodbyes.
/// </summary>
public sealed class OspAgentAdvertiser : IAsyncDisposable
{
    private readonly MdnsService _mdns;
    private readonly AgentIdentity _identity;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _renames = new();
    private int _hostPublication;
    private int _servicePublication;
    private ulong _metadataVersion;
    private bool _disposed;
    private int _renamesPending; // renames raised on the mDNS loop, not yet applied to the identity (under _renames)
    private TaskCompletionSource? _renamesApplied; // completes when _renamesPending drops to 0 (under _renames)

    private OspAgentAdvertiser(MdnsService mdns, AgentIdentity identity, ushort port, ulong mv, ILogger logger)
    {
        _mdns = mdns;
        _identity = identity;
        Port = port;
        _metadataVersion = mv;
        _logger = logger;
    }

    /// <summary>The QUIC port advertised.</summary>
    public ushort Port { get; }

    /// <summary>The instance name currently advertised (changes after a rename).</summary>
    public string InstanceName => _identity.InstanceName;

    /// <summary>Raised (on a pool thread) after a rename has been applied, with the new instance name.</summary>
    public event Action<string>? Renamed;

    /// <summary>
    /// Starts advertising. The identity's instance name must already be the instance name for the display
    /// name (<see cref="OspInstanceName.FromDisplayName"/>); the mDNS service is not owned.
    /// </summary>
    /// <param name="mdns">The mDNS service to publish with.</param>
    /// <param name="identity">The agent identity (hostname, fingerprint, serial, <c>at</c>); renamed on conflicts.</param>
    /// <param name="port">The QUIC port of the agent's listener.</param>
    /// <param name="metadataVersion">TXT <c>mv</c>.</param>
    /// <param name="logger">Receives renames and failures to apply them.</param>
    /// <param name="cancellationToken">Stops waiting for the publications (already queued ones stay).</param>
    public static Task<OspAgentAdvertiser> StartAsync(MdnsService mdns, AgentIdentity identity, ushort port, ulong metadataVersion,
        ILogger? logger = null, CancellationToken cancellationToken = default) =>
        StartAsync(mdns, identity, port, metadataVersion, logger, afterPublish: null, cancellationToken);

    /// <summary>
    /// <see cref="StartAsync(MdnsService, AgentIdentity, ushort, ulong, ILogger?, CancellationToken)"/>; tests pass
    /// <paramref name="afterPublish"/>, which runs after both publications and before their ids are known to renames
    /// (a model of this method resuming late).
    /// </summary>
    internal static async Task<OspAgentAdvertiser> StartAsync(MdnsService mdns, AgentIdentity identity, ushort port, ulong metadataVersion,
        ILogger? logger, Func<Task>? afterPublish, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(mdns);
        ArgumentNullException.ThrowIfNull(identity);
        var a = new OspAgentAdvertiser(mdns, identity, port, metadataVersion, logger ?? NullLogger.Instance);
        // The gate is held until both publication ids are known. The first probe can meet a defence, and the service be
        // renamed on the mDNS loop, before this method resumes: such a rename waits for the ids instead of being taken
        // for another publication's and dropped (session 12: the cause of the NameConflict interop test's flake — the
        // agent stayed 'Front Door' in its identity, TXT and hostname while mDNS announced 'Front Door (2)').
        await a._gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            mdns.Renamed += a.OnRenamed;
            var host = DnsName.Parse(identity.Hostname);
            a._hostPublication = await mdns.PublishHostAsync(host, cancellationToken).ConfigureAwait(false);
            int service = await mdns.PublishServiceAsync(new MdnsServiceRegistration(identity.InstanceName, OspDiscovery.ServiceType, host, port, a.Txt())
            {
                Renamer = OspInstanceName.Rename,
            }, cancellationToken).ConfigureAwait(false);
            if (afterPublish is not null) await afterPublish().ConfigureAwait(false);
            a._servicePublication = service;
        }
        finally
        {
            a._gate.Release();
        }
        return a;
    }

    private TxtProperties Txt() => new OspTxt(_identity.Fingerprint, _metadataVersion, _identity.AuthToken, _identity.SerialBase64Url).ToProperties();

    /// <summary>True once the service finished probing on every interface.</summary>
    /// <param name="cancellationToken">Stops waiting for the answer.</param>
    public Task<bool> IsEstablishedAsync(CancellationToken cancellationToken = default) =>
        _mdns.IsEstablishedAsync(_servicePublication, cancellationToken);

    /// <summary>
    /// Completes once the service finished probing on every interface and every rename that probing caused has been
    /// applied (<see cref="InstanceName"/>, the identity's certificate and hostname, TXT), so the caller reads the
    /// final name (awaited events, no polling).
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    public async Task WaitEstablishedAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            await _mdns.WaitEstablishedAsync(_servicePublication, cancellationToken).ConfigureAwait(false);
            // A rename is counted on the mDNS loop when it is raised, which is before the renamed service can be
            // established: once established, a rename still being applied is visible here.
            Task applied;
            lock (_renames) applied = _renamesApplied?.Task ?? Task.CompletedTask;
            if (applied.IsCompleted) return;
            await applied.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sets a new metadata version (must increase when agent metadata changes) and re-announces the TXT record.</summary>
    /// <param name="metadataVersion">The new TXT <c>mv</c>.</param>
    /// <param name="cancellationToken">Cancels waiting for a rename in progress.</param>
    public async Task UpdateMetadataVersionAsync(ulong metadataVersion, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _metadataVersion = metadataVersion;
            await _mdns.UpdateServiceAsync(_servicePublication, Txt(), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Rotates the <c>at</c> token (<see cref="AgentIdentity.RotateAuthToken"/>, persisted) and re-announces the TXT
    /// record (an mDNS announcement with cache-flush: listeners replace the old TXT at once). Authentication reads the
    /// identity's token per attempt, so from now on only the new token is accepted.
    /// </summary>
    /// <param name="cancellationToken">Cancels waiting for a rename in progress.</param>
    /// <returns>The new token.</returns>
    public async Task<string> RotateAuthTokenAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string at = _identity.RotateAuthToken();
            await _mdns.UpdateServiceAsync(_servicePublication, Txt(), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (_logger.IsEnabled(LogLevel.Warning)) _logger.LogWarning("osp advertise: rotated the auth token (at) after repeated authentication failures; re-announced TXT");
            return at;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Rotates the <c>at</c> token whenever <paramref name="limiter"/> flags a peer (<see cref="Auth.AuthAttemptLimiter.SuspiciousPeer"/>,
    /// i.e. <see cref="Auth.AuthAttemptLimiter.AuthTokenRotationRequested"/>) and acknowledges it. Dispose the result to stop.
    /// </summary>
    /// <param name="limiter">The agent's brute-force policy.</param>
    public IDisposable RotateAuthTokenOnSuspicion(Auth.AuthAttemptLimiter limiter)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        void OnSuspicious(object? sender, Auth.OspSuspiciousPeer peer)
        {
            if (!limiter.AuthTokenRotationRequested) return; // a further failure of a key already flagged: rotated then
            limiter.AcknowledgeAuthTokenRotation();
            _ = Task.Run(async () =>
            {
                try
                {
                    await RotateAuthTokenAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is Net.NetException or IOException or Crypto.CryptoException or ObjectDisposedException)
                {
                    _logger.LogWarning(ex, "osp advertise: rotating the auth token failed: {Reason}", ex.Message);
                }
            });
        }

        limiter.SuspiciousPeer += OnSuspicious;
        return new Unsubscribe(() => limiter.SuspiciousPeer -= OnSuspicious);
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    /// <summary>Runs on the mDNS loop. The publication check waits for the gate: during <see cref="StartAsync(MdnsService, AgentIdentity, ushort, ulong, ILogger?, CancellationToken)"/> the ids are not known yet.</summary>
    private void OnRenamed(int publication, DnsName newName)
    {
        if (_disposed) return;
        string label = newName.Labels[0];
        if (Volatile.Read(ref _servicePublication) == 0 && _logger.IsEnabled(LogLevel.Debug))
            _logger.LogDebug("osp advertise: a rename to '{Name}' was raised before the publication ids are known; checked once they are", label);
        lock (_renames)
        {
            if (_renamesPending++ == 0) _renamesApplied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await ApplyRenameAsync(publication, label).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // disposed meanwhile (the gate is gone): nothing to apply
            }
            finally
            {
                lock (_renames)
                {
                    if (--_renamesPending == 0) _renamesApplied!.TrySetResult();
                }
            }
        });
    }

    private async Task ApplyRenameAsync(int publication, string label)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (publication != _servicePublication || _disposed || label == _identity.InstanceName) return;
            string oldHost = _identity.Hostname;
            _identity.Rename(label);
            int oldHostPub = _hostPublication;
            _hostPublication = await _mdns.PublishHostAsync(DnsName.Parse(_identity.Hostname)).ConfigureAwait(false);
            await _mdns.UpdateServiceAsync(_servicePublication, Txt(), DnsName.Parse(_identity.Hostname)).ConfigureAwait(false);
            await _mdns.UnpublishAsync(oldHostPub).ConfigureAwait(false);
            if (_logger.IsEnabled(LogLevel.Information))
            {
                _logger.LogInformation("osp advertise: renamed to '{Instance}' (hostname {OldHost} -> {NewHost}, sn {Serial})", label, oldHost, _identity.Hostname, _identity.SerialBase64Url);
            }

            Renamed?.Invoke(label);
        }
        catch (Exception ex) when (ex is Net.NetException or IOException or Crypto.CryptoException or ArgumentException)
        {
            _logger.LogWarning(ex, "osp advertise: applying rename failed: {Reason}", ex.Message);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Withdraws the advertisement (goodbyes).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        _mdns.Renamed -= OnRenamed;
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _mdns.UnpublishAsync(_servicePublication).ConfigureAwait(false);
            await _mdns.UnpublishAsync(_hostPublication).ConfigureAwait(false);
        }
        catch (Net.NetException)
        {
        }
        finally
        {
            _gate.Release();
        }
        _gate.Dispose();
    }
}
