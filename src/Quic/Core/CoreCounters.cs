namespace OspBridge.Quic.Core;

/// <summary>
/// Diagnostic counters of one connection core: frames received that drive the sender, and why a
/// <see cref="ConnectionCore.TryPollTransmit"/> call found nothing to send. Plain fields touched only on the
/// connection's loop; <c>OSPBRIDGE_QUIC_STATS=1</c> makes the driver print them when the connection ends.
/// </summary>
internal sealed class CoreCounters
{
    /// <summary><c>OSPBRIDGE_QUIC_STATS=1</c>: classify every empty poll (costs a walk over the streams) and print at the end.</summary>
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_STATS") == "1";

    public long AckFrames, MaxDataFrames, MaxStreamDataFrames;
    /// <summary>A poll that sent nothing: congestion window full / pacer empty / stream data waiting on flow control / nothing queued.</summary>
    public long StopCwnd, StopPacing, StopFlowControl, StopIdle;
    /// <summary>Polls that produced a datagram.</summary>
    public long Datagrams;
    /// <summary>Path MTU probes sent / acknowledged / declared lost.</summary>
    public long MtuProbesSent, MtuProbesAcked, MtuProbesLost;
    /// <summary>Received stream bytes copied straight into a waiting read / into the reassembly ring; of them, decrypted straight there (no in-place plaintext copy).</summary>
    public long StreamBytesDirect, StreamBytesRing, StreamBytesPlaced;

    public override string ToString() =>
        $"ack={AckFrames} max_data={MaxDataFrames} max_stream_data={MaxStreamDataFrames} datagrams={Datagrams} " +
        $"stop: cwnd={StopCwnd} pacing={StopPacing} flow={StopFlowControl} idle={StopIdle} " +
        $"pmtu probes: sent={MtuProbesSent} acked={MtuProbesAcked} lost={MtuProbesLost} " +
        $"stream bytes in: direct={StreamBytesDirect} ring={StreamBytesRing} (decrypted straight into either: {StreamBytesPlaced})";
}
