using Microsoft.Extensions.Logging;
using OspBridge.Net.Channels;
using OspBridge.Osp;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Signaling;
using OspBridge.PeerFetch;

namespace OspBridge.Bridge.Server;

/// <summary>
/// The bridge's authenticated LP2P session with one paired device: PeerFetch (REST gateway) on a small pool of
/// <c>http-proxy</c> data channels opened on first use and reopened when they closed, and LAN signaling offers
/// (WebSocket and PeerJS signaling). <see cref="Ended"/> is cancelled when the session ends, which ends
/// everything that runs on it.
/// </summary>
internal sealed class DeviceLink : IAsyncDisposable
{
    /// <summary>The label of PeerFetch data channels.</summary>
    public const string HttpLabel = "http-proxy";

    private readonly ILogger _logger;
    private readonly HttpSlot[] _http = [.. Enumerable.Range(0, HttpChannels).Select(_ => new HttpSlot())];
    private readonly SemaphoreSlim _inFlight = new(MaxRequestsInFlight, MaxRequestsInFlight);
    private readonly CancellationTokenSource _ended = new();
    private readonly LanSignalingSession _signaling;
    private int _nextHttp;
    private int _disposed;

    public DeviceLink(string deviceId, LP2PConnection connection, ILogger logger)
    {
        DeviceId = deviceId;
        Connection = connection;
        _logger = logger;
        _signaling = new LanSignalingSession(connection.Connection, new LanSignalingOptions { AnswerTimeout = TimeSpan.FromSeconds(20) }, logger);
        _ = connection.Closed.ContinueWith(_ => { try { _ended.Cancel(); } catch (ObjectDisposedException) { } },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The device's id.</summary>
    public string DeviceId { get; }

    /// <summary>The LP2P connection.</summary>
    public LP2PConnection Connection { get; }

    /// <summary>Cancelled when the session ends (the device went away, was unpaired, or the bridge stops).</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>True until the session ended.</summary>
    public bool IsAlive => !_ended.IsCancellationRequested && !Connection.Closed.IsCompleted;

    /// <summary>Capabilities the device declared in its agent-info.</summary>
    public IReadOnlyList<string> Capabilities =>
        Connection.PeerInfo?.Capabilities.Select(c => c.ToString()).ToList() ?? [];

    /// <summary>
    /// A PeerFetch invoker of this device (v2 where the device speaks it, v1 otherwise), taken round-robin from a small
    /// pool of <c>http-proxy</c> data channels: each channel has its own receive and send loop on both ends, so
    /// concurrent requests spread over cores instead of queueing behind one channel's loops. A channel is opened on
    /// first use and reopened when it has closed.
    /// </summary>
    public Task<HttpMessageInvoker> GetHttpAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var slot = _http[(int)((uint)Interlocked.Increment(ref _nextHttp) % (uint)_http.Length)];
        var ready = slot.Ready;
        if (ready is not null) return Task.FromResult(ready);
        // This slot's channel is not open (yet): take another open one and open this one in the background, so the
        // first requests after a pre-connect (which opened one channel) do not each wait for a channel of their own.
        foreach (var other in _http)
        {
            if (other.Ready is not { } open) continue;
            _ = OpenInBackgroundAsync(slot);
            return Task.FromResult(open);
        }
        return slot.OpenAsync(this, cancellationToken);
    }

    private async Task OpenInBackgroundAsync(HttpSlot slot)
    {
        try
        {
            await slot.OpenAsync(this, Ended).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OspException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("device {Id}: http-proxy channel not opened ({Error})", DeviceId, ex.Message);
        }
    }

    /// <summary>
    /// Waits for one of the <see cref="MaxRequestsInFlight"/> request slots of this device (released by disposing the
    /// result once the response has been relayed): the device limits concurrent requests per peer (the agent's default
    /// is 64, more get 429) and the bridge is one peer for all its users, so excess requests queue here instead.
    /// </summary>
    public async Task<IDisposable> EnterRequestAsync(CancellationToken cancellationToken)
    {
        await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new InFlight(_inFlight);
    }

    /// <summary>Requests the bridge has in flight to one device at once (<see cref="EnterRequestAsync"/>).</summary>
    public const int MaxRequestsInFlight = 64;

    /// <summary>PeerFetch data channels per device.</summary>
    internal const int HttpChannels = 4;

    private sealed class InFlight(SemaphoreSlim gate) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) gate.Release();
        }
    }

    /// <summary>One pooled <c>http-proxy</c> channel and its invoker.</summary>
    private sealed class HttpSlot : IDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private LP2PDataChannel? _channel;
        private HttpMessageInvoker? _invoker;

        /// <summary>The invoker when its channel is open (null: call <see cref="OpenAsync"/>).</summary>
        public HttpMessageInvoker? Ready => Volatile.Read(ref _channel) is { State: MessageChannelState.Open } ? Volatile.Read(ref _invoker) : null;

        public async Task<HttpMessageInvoker> OpenAsync(DeviceLink link, CancellationToken cancellationToken)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ObjectDisposedException.ThrowIf(link._disposed != 0, link);
                if (Ready is { } ready) return ready;
                _invoker?.Dispose();
                _invoker = null;
                var channel = await link.Connection.CreateDataChannelAsync(HttpLabel, new LP2PDataChannelInit(), cancellationToken).ConfigureAwait(false);
                await channel.WaitOpenAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                var invoker = new HttpMessageInvoker(new PeerFetchHandler(channel, new PeerFetchClientOptions { Logger = link._logger }), disposeHandler: true);
                Volatile.Write(ref _invoker, invoker);
                Volatile.Write(ref _channel, channel);
                return invoker;
            }
            finally
            {
                _gate.Release();
            }
        }

        public void Dispose() => _invoker?.Dispose();
    }

    /// <summary>Sends a complete SDP offer to the device over LAN signaling and returns its complete answer.</summary>
    /// <exception cref="OspException">The device refused the offer, did not answer in time, or the session failed.</exception>
    public Task<string> OfferAsync(string offerSdp, string label, CancellationToken cancellationToken) =>
        _signaling.OfferAsync(offerSdp, label, cancellationToken);

    /// <summary>LAN signaling on this session (WHEP/WHIP use its session ids: trickled candidates and close).</summary>
    public LanSignalingSession Signaling => _signaling;

    /// <summary>Ends the session (closes the LP2P connection).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try { await _ended.CancelAsync().ConfigureAwait(false); } catch (ObjectDisposedException) { }
        _signaling.Dispose();
        foreach (var slot in _http) slot.Dispose();
        try
        {
            await Connection.CloseAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OspException or TimeoutException or ObjectDisposedException)
        {
        }
        await Connection.DisposeAsync().ConfigureAwait(false);
    }
}
