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
    private int _hostPublication;
    private int _servicePublication;
    private ulong _metadataVersion;
    private bool _disposed;

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
    public static async Task<OspAgentAdvertiser> StartAsync(MdnsService mdns, AgentIdentity identity, ushort port, ulong metadataVersion,
        ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mdns);
        ArgumentNullException.ThrowIfNull(identity);
        var a = new OspAgentAdvertiser(mdns, identity, port, metadataVersion, logger ?? NullLogger.Instance);
        mdns.Renamed += a.OnRenamed;
        var host = DnsName.Parse(identity.Hostname);
        a._hostPublication = await mdns.PublishHostAsync(host, cancellationToken).ConfigureAwait(false);
        a._servicePublication = await mdns.PublishServiceAsync(new MdnsServiceRegistration(identity.InstanceName, OspDiscovery.ServiceType, host, port, a.Txt())
        {
            Renamer = OspInstanceName.Rename,
        }, cancellationToken).ConfigureAwait(false);
        return a;
    }

    private TxtProperties Txt() => new OspTxt(_identity.Fingerprint, _metadataVersion, _identity.AuthToken, _identity.SerialBase64Url).ToProperties();

    /// <summary>True once the service finished probing on every interface.</summary>
    /// <param name="cancellationToken">Stops waiting for the answer.</param>
    public Task<bool> IsEstablishedAsync(CancellationToken cancellationToken = default) =>
        _mdns.IsEstablishedAsync(_servicePublication, cancellationToken);

    /// <summary>Completes once the service finished probing on every interface (an awaited event, no polling).</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    public Task WaitEstablishedAsync(CancellationToken cancellationToken = default) =>
        _mdns.WaitEstablishedAsync(_servicePublication, cancellationToken);

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

    private void OnRenamed(int publication, DnsName newName)
    {
        if (publication != _servicePublication || _disposed) return;
        string label = newName.Labels[0];
        _ = Task.Run(async () =>
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_disposed || label == _identity.InstanceName) return;
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
        });
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
