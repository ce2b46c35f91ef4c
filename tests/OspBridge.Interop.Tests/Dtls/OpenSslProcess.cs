using System.Text;
using System.Text.RegularExpressions;

namespace OspBridge.Interop.Tests.Dtls;

/// <summary>Runs the OpenSSL CLI (s_server / s_client) with captured stdout/stderr and a writable stdin.</summary>
internal sealed partial class OpenSslProcess : IDisposable
{
    public const string OpenSslPath = "/usr/bin/openssl";
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public OpenSslProcess(string arguments)
    {
        if (!File.Exists(OpenSslPath))
            throw new InvalidOperationException($"prerequisite missing: {OpenSslPath} (Debian package 'openssl') is needed for the DTLS interop tests");
        var psi = new ProcessStartInfo(OpenSslPath, arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public bool HasExited => _process.HasExited;

    public void WriteLine(string line)
    {
        _process.StandardInput.Write(line + "\n");
        _process.StandardInput.Flush();
    }

    public void CloseInput() => _process.StandardInput.Close();

    public bool WaitForOutput(string text, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (Output.Contains(text, StringComparison.Ordinal)) return true;
            Thread.Sleep(20);
        }
        return Output.Contains(text, StringComparison.Ordinal);
    }

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit((int)timeout.TotalMilliseconds);

    /// <summary>The hex printed after "Keying material:" (RFC 5705 export), as bytes.</summary>
    public byte[]? KeyingMaterial()
    {
        var m = KeyingMaterialRegex().Match(Output);
        return m.Success ? Convert.FromHexString(m.Groups[1].Value) : null;
    }

    [GeneratedRegex(@"Keying material: ([0-9A-Fa-f]+)")]
    private static partial Regex KeyingMaterialRegex();

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
