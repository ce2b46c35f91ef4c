using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using OspBridge.Net.IO;

namespace OspBridge.Testing.Netns;

/// <summary>
/// An <see cref="IDatagramSocketFactory"/> whose sockets live in a named network namespace: one dedicated
/// thread opens <c>/run/netns/&lt;name&gt;</c>, joins it with <c>setns(CLONE_NEWNET)</c> and then creates and
/// binds every socket asked for (through <paramref name="inner"/>, the batched socket by default). A socket
/// keeps the namespace it was created in, so the returned sockets can be used from any thread; no pool
/// thread ever changes namespace. Dispose the factory to end its thread (its sockets stay usable).
/// </summary>
/// <param name="namespaceName">The namespace, as in <c>ip netns list</c> (e.g. <see cref="NetnsHost.Namespace"/>).</param>
/// <param name="inner">Creates the sockets on the namespace thread; null = <see cref="UdpSocketFactory.Default"/>.</param>
public sealed class NetnsSocketFactory(string namespaceName, IDatagramSocketFactory? inner = null) : IDatagramSocketFactory, IDisposable
{
    private readonly BlockingCollection<Action> _work = [];
    private readonly IDatagramSocketFactory _inner = inner ?? UdpSocketFactory.Default;
    private Thread? _thread;
    private Exception? _enterFailure;
    private readonly Lock _start = new();

    /// <summary>The namespace.</summary>
    public string Namespace { get; } = namespaceName;

    /// <inheritdoc/>
    public IDatagramSocket Open(UdpSocketOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Run(() => _inner.Open(options));
    }

    /// <summary>Runs <paramref name="action"/> on the namespace thread (e.g. to create something else that binds there).</summary>
    public T Run<T>(Func<T> action)
    {
        EnsureThread();
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                if (_enterFailure is not null) throw new InvalidOperationException($"could not join netns {Namespace}", _enterFailure);
                tcs.SetResult(action());
            }
            catch (Exception ex)
            {
                tcs.SetException(ex);
            }
        });
        try
        {
            return tcs.Task.GetAwaiter().GetResult();
        }
        catch (AggregateException ae) when (ae.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(ae.InnerException).Throw();
            throw;
        }
    }

    private void EnsureThread()
    {
        lock (_start)
        {
            ObjectDisposedException.ThrowIf(_work.IsAddingCompleted, this);
            if (_thread is not null) return;
            _thread = new Thread(Loop) { IsBackground = true, Name = "netns-sockets " + Namespace };
            _thread.Start();
        }
    }

    private void Loop()
    {
        try
        {
            string path = "/run/netns/" + Namespace;
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            if (LibC.setns((int)handle.DangerousGetHandle(), LibC.CLONE_NEWNET) != 0)
                throw new InvalidOperationException($"setns({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        catch (Exception ex)
        {
            _enterFailure = ex;
        }
        foreach (var work in _work.GetConsumingEnumerable()) work();
    }

    /// <summary>Ends the namespace thread; sockets already opened keep working.</summary>
    public void Dispose()
    {
        lock (_start) _work.CompleteAdding();
        _thread?.Join(TimeSpan.FromSeconds(5));
        _work.Dispose();
    }
}
