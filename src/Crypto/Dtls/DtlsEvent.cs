namespace OspBridge.Crypto.Dtls;

/// <summary>What a <see cref="DtlsEvent"/> reports.</summary>
public enum DtlsEventKind
{
    /// <summary><see cref="DtlsEndpoint.State"/> changed to <see cref="DtlsEvent.State"/>; for <see cref="DtlsState.Failed"/>,
    /// <see cref="DtlsEvent.Error"/> says why.</summary>
    StateChanged,

    /// <summary>
    /// At least one application record is queued: drain <see cref="DtlsEndpoint.TryReadApplicationData(Span{byte}, out int)"/>
    /// until false. Coalesced: at most one such event is pending, so a reader that drains the records after every call
    /// never sees the event queue grow.
    /// </summary>
    ApplicationDataAvailable,

    /// <summary>The peer sent an authenticated (epoch ≥ 1) alert; epoch-0 ones are dropped: <see cref="DtlsEvent.AlertLevel"/>,
    /// <see cref="DtlsEvent.AlertDescription"/>. A fatal one is followed by <see cref="StateChanged"/> to Failed.</summary>
    AlertReceived,
}

/// <summary>
/// One event of a <see cref="DtlsEndpoint"/>, drained with <see cref="DtlsEndpoint.TryPollEvent"/>. Events are queued in
/// the order they happen and never raised from inside the endpoint.
/// </summary>
/// <param name="Kind">What happened.</param>
/// <param name="State">The new state (<see cref="DtlsEventKind.StateChanged"/>).</param>
/// <param name="Error">Why the endpoint failed (<see cref="DtlsEventKind.StateChanged"/> to <see cref="DtlsState.Failed"/>).</param>
/// <param name="AlertLevel">Alert level (1 warning, 2 fatal) for <see cref="DtlsEventKind.AlertReceived"/>.</param>
/// <param name="AlertDescription">Alert description code (RFC 5246 §7.2) for <see cref="DtlsEventKind.AlertReceived"/>.</param>
public readonly record struct DtlsEvent(
    DtlsEventKind Kind, DtlsState State = DtlsState.New, CryptoException? Error = null, byte AlertLevel = 0, byte AlertDescription = 0);
