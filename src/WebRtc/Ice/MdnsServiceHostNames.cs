using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Net;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

namespace OspBridge.WebRtc.Ice;

/// <summary>
/// <see cref="IMdnsHostNames"/> over an OspBridge.Net <see cref="MdnsService"/>: publishes our
/// <c>&lt;uuid&gt;.local</c> names (draft-ietf-rtcweb-mdns-ice-candidates §3.1) and resolves the peer's (§3.2,
/// e.g. Chromium's obfuscated host candidates). The service is borrowed, not owned: the caller starts it on the
/// same interfaces ICE gathers on and disposes it after the peer connections.
/// </summary>
/// <remarks>
/// A name is published with exactly the candidate's address, only on the interface(s) of the service that carry that
/// address (<see cref="MdnsService.PublishHostAsync(DnsName, IPAddress, CancellationToken)"/>); an address no mDNS interface carries
/// (loopback, or an interface the service was not started on) is not published, and the peer can then only reach
/// that candidate as peer-reflexive. Resolution is one mDNS query burst bounded by <see cref="ResolveTimeout"/>;
/// the first IPv4 answer wins, else the first IPv6 one.
/// </remarks>
public sealed class MdnsServiceHostNames : IMdnsHostNames
{
    private readonly MdnsService _mdns;
    private readonly ILogger _log;

    /// <summary>Wraps <paramref name="mdns"/>; <paramref name="logger"/> receives publish failures and resolutions.</summary>
    public MdnsServiceHostNames(MdnsService mdns, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(mdns);
        _mdns = mdns;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>How long <see cref="ResolveAsync"/> waits for an answer (default 3 s).</summary>
    public TimeSpan ResolveTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <inheritdoc/>
    public IAsyncDisposable Publish(string hostName, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var name = Parse(hostName);
        var id = _mdns.PublishHostAsync(name, address);
        _ = id.ContinueWith(t => WebRtcLog.MdnsPublishFailed(_log, name.ToString() + " for " + address, t.Exception!.GetBaseException().Message),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return new Publication(this, name, id);
    }

    /// <inheritdoc/>
    public async Task<IPAddress?> ResolveAsync(string hostName, CancellationToken cancellationToken)
    {
        var name = Parse(hostName);
        IReadOnlyList<IPAddress> found;
        try
        {
            found = await _mdns.ResolveHostAsync(name, ResolveTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (NetException ex)
        {
            WebRtcLog.Mdns(_log, name.ToString(), "resolving failed: " + ex.Message);
            return null;
        }
        var ip = found.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? (found.Count > 0 ? found[0] : null);
        if (_log.IsEnabled(LogLevel.Debug)) WebRtcLog.Mdns(_log, name.ToString(), found.Count == 0 ? "(no answer)" : string.Join(", ", found));
        return ip;
    }

    private static DnsName Parse(string hostName)
    {
        ArgumentException.ThrowIfNullOrEmpty(hostName);
        try { return DnsName.Parse(hostName); }
        catch (NetException ex) { throw new WebRtcException(WebRtcError.InvalidDescription, $"not a host name: {hostName}", ex); }
    }

    private sealed class Publication(MdnsServiceHostNames owner, DnsName name, Task<int> id) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            try
            {
                await owner._mdns.UnpublishAsync(await id.ConfigureAwait(false)).ConfigureAwait(false);
            }
            catch (NetException ex)
            {
                WebRtcLog.Mdns(owner._log, name.ToString(), "was not published: " + ex.Message);
            }
        }
    }
}
