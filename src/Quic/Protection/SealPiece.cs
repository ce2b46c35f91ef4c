namespace OspBridge.Quic.Protection;

/// <summary>
/// A run of a packet's payload whose plaintext is still in other memory (a stream's send ring) when the packet is
/// sealed: <see cref="PacketKeys.SealGathered"/> encrypts it from <see cref="Source"/> straight into the payload at
/// <see cref="Offset"/>.
/// </summary>
internal struct SealPiece
{
    /// <summary>Where the run starts (relative to the payload when sealing; to the packet while the packet is assembled).</summary>
    public int Offset;

    /// <summary>Bytes in the run.</summary>
    public int Length;

    /// <summary>The array holding the plaintext.</summary>
    public byte[] Source;

    /// <summary>Where the plaintext starts in <see cref="Source"/>.</summary>
    public int SourceIndex;
}
