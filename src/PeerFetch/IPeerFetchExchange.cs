using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch;

/// <summary>
/// One request/response exchange as the client and the device see it, whatever carries it: a v2 stream of a
/// multiplexed message channel (<see cref="PeerFetchStream"/>) or a QUIC stream of its own
/// (<see cref="Streams.PeerFetchStreamExchange"/>). The device's handler, limits and access log run over this.
/// </summary>
internal interface IPeerFetchExchange
{
    /// <summary>The peer's head: the request (served exchange) or the response (opened exchange).</summary>
    Task<List<KeyValuePair<string, string>>> Head { get; }

    /// <summary>Trailers from the peer, once its body ended (null if none were sent).</summary>
    List<KeyValuePair<string, string>>? Trailers { get; }

    /// <summary>The peer's head itself ended its side (END_STREAM on the head: no body at all). Unlike
    /// <see cref="RemoteEnded"/>, not true merely because a whole small body already arrived.</summary>
    bool HeadEndedStream { get; }

    /// <summary>The peer's side ended (its whole body is here or was read).</summary>
    bool RemoteEnded { get; }

    /// <summary>Both sides ended normally.</summary>
    bool IsComplete { get; }

    /// <summary>Reads body bytes; 0 at the end of the peer's body; throws <see cref="PeerFetchException"/> when reset.</summary>
    ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Sends body bytes; <paramref name="endStream"/> ends our side after them.</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, bool endStream, CancellationToken cancellationToken);

    /// <summary>
    /// Bytes the caller leaves free in front of the body bytes it gives <see cref="WriteInPlaceAsync"/>: the exchange
    /// writes its frame header there instead of copying the body into a frame buffer (0 when it copies anyway).
    /// </summary>
    int WriteHeaderRoom { get; }

    /// <summary>
    /// Like <see cref="WriteAsync"/> for <c>buffer[WriteHeaderRoom..]</c>; the first <see cref="WriteHeaderRoom"/> bytes
    /// are free room the exchange may overwrite (the body is framed where it lies).
    /// </summary>
    ValueTask WriteInPlaceAsync(Memory<byte> buffer, bool endStream, CancellationToken cancellationToken);

    /// <summary>
    /// Memory lent by the transport for the next body chunk — <see cref="WriteHeaderRoom"/> bytes of room, then at most
    /// <paramref name="maxBody"/> body bytes — filled by the caller and sent by <see cref="CommitBody"/> with no copy.
    /// Empty when the transport lends nothing (or too little now): use <see cref="WriteInPlaceAsync"/> for this chunk.
    /// </summary>
    ValueTask<Memory<byte>> LeaseBodyAsync(int maxBody, CancellationToken cancellationToken);

    /// <summary>Sends the first <paramref name="bodyLength"/> body bytes of the lease (after the room); ends our side if <paramref name="endStream"/>.</summary>
    void CommitBody(int bodyLength, bool endStream);

    /// <summary>
    /// Sends a head and, right behind it, a whole body (<paramref name="body"/>; may be empty), ending our side when
    /// <paramref name="endStream"/>: the same frames as <see cref="SendHeadersAsync"/> then <see cref="WriteAsync"/>, handed
    /// to the transport together (one message or one stream write where they fit) — a small response in one piece.
    /// </summary>
    ValueTask SendHeadAndBodyAsync(IReadOnlyList<KeyValuePair<string, string>> head, ReadOnlyMemory<byte> body, bool endStream, CancellationToken cancellationToken);

    /// <summary>Sends a head, or trailers (<paramref name="endStream"/> must then be true).</summary>
    ValueTask SendHeadersAsync(IReadOnlyList<KeyValuePair<string, string>> fields, bool endStream, CancellationToken cancellationToken);

    /// <summary>Aborts the exchange both ways (no-op once it is over). <see cref="PeerFetchErrorCode.NoError"/> after a
    /// complete response only asks the peer to stop sending its body.</summary>
    void Reset(PeerFetchErrorCode code = PeerFetchErrorCode.Cancel);

    /// <summary>Runs (on the thread pool) when the peer aborts the exchange; at once if it already did.</summary>
    void SetOnAborted(Action value);
}
