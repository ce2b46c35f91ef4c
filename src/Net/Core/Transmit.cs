namespace OspBridge.Net.Core;

/// <summary>
/// One datagram a core wrote into the caller's buffer in <see cref="IProtocolCore.TryPollTransmit"/>:
/// its length (the bytes are <c>destination[..Length]</c>) and the path it must take.
/// </summary>
/// <param name="Length">Bytes written at the start of the destination buffer.</param>
/// <param name="Path">Where to send it; <see cref="DatagramPath.None"/> over a connected lower layer.</param>
public readonly record struct Transmit(int Length, DatagramPath Path);
