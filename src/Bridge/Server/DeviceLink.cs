using Microsoft.Extensions.Logging;
using OspBridge.Net.Channels;
using OspBridge.Osp;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Signaling;
using OspBridge.PeerFetch;

namespace OspBridge.Bridge.Server;

/// <summary>
/// The bridge's authenticated LP2P session with one paired device: PeerFetch (REST gateway) on an
/// <c>http-proxy</c> data channel opened on first use and reopened when it closed, and LAN signaling offers
/// (WebSocket and PeerJS signaling). <see cref="Ended"/> is cancelled when the session ends, which ends
/// everything that runs on it.
/// </summary>
internal sealed class DeviceLink : IAsyncDisposable
{
    /// <summary>The label of PeerFetch data channels.</summary>
    public const string HttpLabel = "http-proxy";

    private readonly ILogger _logger;
    private readonly SemaphoreSlim _httpGate = new(1, 1);
    private readonly CancellationTokenSource _ended = new();
    private readonly LanSignalingSession _signaling;
    private LP2PDataChannel? _httpChannel;
    private HttpMessageInvoker? _http;
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
    /// The PeerFetch invoker of this device (v2 where the device speaks it, v1 otherwise); the data channel is
    /// opened on first use and reopened when it has closed.
    /// </summary>
    public async Task<HttpMessageInvoker> GetHttpAsync(CancellationToken cancellationToken)
    {
        await _httpGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (_http is not null && _httpChannel is { State: MessageChannelState.Open }) return _http;
            _http?.Dispose();
            _http = null;
            _httpChannel = await Connection.CreateDataChannelAsync(HttpLabel, new LP2PDataChannelInit(), cancellationToken).ConfigureAwait(false);
            await _httpChannel.WaitOpenAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            _http = new HttpMessageInvoker(new PeerFetchHandler(_httpChannel, new PeerFetchClientOptions { Logger = _logger }), disposeHandler: true);
            return _http;
        }
        finally
        {
            _httpGate.Release();
        }
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
        _http?.Dispose();
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
